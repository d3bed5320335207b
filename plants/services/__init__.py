"""Write-side services of the plants app."""
