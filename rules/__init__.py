"""Rules as governed data: definitions, versions, approval, rollout, CEL evaluation."""
