/* The rule set editor: problems marked in ACE at their line and column, live checks, and
 * read-only documents shown in the same editor.
 *
 * django-ace builds the editor on window "load" and keeps it as `widget.editor`; this runs
 * after it. Problems come from the server on save (#rule-problems, JSON) and, while the
 * author types, from POST /api/v1/rules/validate (session auth, CSRF token of the page).
 * Each problem is a gutter annotation (hover for the message) and a wavy underline from
 * its column to the end of the line; the list under the editor jumps to each one.
 */
(function () {
  "use strict";

  function serverProblems() {
    var el = document.getElementById("rule-problems");
    return el ? JSON.parse(el.textContent) : [];
  }

  function listFor(widget) {
    var box = widget.parentNode.querySelector(".rules-problems");
    if (!box) {
      box = document.createElement("ul");
      box.className = "rules-problems";
      box.setAttribute("aria-live", "polite");
      widget.parentNode.appendChild(box);
    }
    return box;
  }

  function annotate(widget, problems, tests) {
    var editor = widget.editor;
    var session = editor.getSession();
    var Range = ace.require("ace/range").Range;
    (editor.rulesMarkers || []).forEach(function (id) { session.removeMarker(id); });
    editor.rulesMarkers = [];
    var located = problems.filter(function (p) { return p.line > 0; });
    session.setAnnotations(located.map(function (p) {
      return {
        row: p.line - 1,
        column: Math.max(p.column - 1, 0),
        type: "error",
        text: "[" + p.code + "] " + (p.path ? p.path + ": " : "") + p.message,
      };
    }));
    located.forEach(function (p) {
      var row = p.line - 1;
      var col = Math.max(p.column - 1, 0);
      var end = Math.max(session.getLine(row).length, col + 1);
      editor.rulesMarkers.push(
        session.addMarker(new Range(row, col, row, end), "rules-error-marker", "text", true)
      );
    });
    var box = listFor(widget);
    box.innerHTML = "";
    box.className = "rules-problems" + (problems.length ? "" : " rules-ok");
    problems.forEach(function (p) {
      var li = document.createElement("li");
      li.textContent = (p.line ? "line " + p.line + ", column " + p.column + ": " : "") +
        (p.path ? p.path + " " : "") + "[" + p.code + "] " + p.message;
      li.addEventListener("click", function () {
        if (p.line) { editor.gotoLine(p.line, Math.max(p.column - 1, 0), true); editor.focus(); }
      });
      box.appendChild(li);
    });
    if (!problems.length) {
      var ok = document.createElement("li");
      var failed = (tests || []).filter(function (t) { return !t.passed; });
      ok.textContent = tests && tests.length
        ? "No problems. Embedded tests: " + (tests.length - failed.length) + " of " + tests.length + " pass" +
          (failed.length ? " (failing: " + failed.map(function (t) { return t.name; }).join(", ") + ")" : "") + "."
        : "No problems.";
      box.appendChild(ok);
    }
  }

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function liveCheck(widget, url) {
    var timer = null;
    var seq = 0;
    widget.editor.getSession().on("change", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var mine = ++seq;
        fetch(url, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
          body: JSON.stringify({ source: widget.editor.getValue() }),
        })
          .then(function (r) { return r.ok ? r.json() : null; })
          .then(function (body) {
            if (body && mine === seq) { annotate(widget, body.problems || [], body.tests || []); }
          })
          .catch(function () { /* offline: the save still checks */ });
      }, 600);
    });
  }

  function readOnlyDocuments() {
    document.querySelectorAll("pre.rules-yaml").forEach(function (pre) {
      var editor = ace.edit(pre);
      editor.setOptions({
        readOnly: true,
        maxLines: Infinity,
        tabSize: 2,
        showPrintMargin: false,
        highlightActiveLine: false,
        useWorker: false,
        fontSize: "13px",
      });
      editor.getSession().setMode("ace/mode/yaml");
      editor.renderer.$cursorLayer.element.style.display = "none";
    });
  }

  window.addEventListener("load", function () {
    setTimeout(function () {
      if (typeof ace === "undefined") { return; }
      var config = document.getElementById("rules-editor-config");
      var url = config ? config.getAttribute("data-validate-url") : "";
      document.querySelectorAll(".django-ace-widget").forEach(function (widget) {
        if (!widget.editor) { return; }
        var problems = serverProblems();
        if (problems.length) {
          annotate(widget, problems, []);
          var first = problems.find(function (p) { return p.line > 0; });
          if (first) { widget.editor.gotoLine(first.line, Math.max(first.column - 1, 0), true); }
        }
        if (url) { liveCheck(widget, url); }
      });
      readOnlyDocuments();
    }, 0);
  });
})();
