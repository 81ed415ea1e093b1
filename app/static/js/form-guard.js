/* Forms that must not lose work: a warning before leaving a page with unsaved changes, and a
   file that is too large said at once when chosen (the server refuses it in any case). */
(function () {
  "use strict";

  var dirty = false;
  document.querySelectorAll("form[data-unsaved-warning]").forEach(function (form) {
    if (form.dataset.unsavedWarning === "dirty") { dirty = true; }  // came back with errors: not saved
    form.addEventListener("input", function () { dirty = true; });
    form.addEventListener("change", function () { dirty = true; });
    form.addEventListener("submit", function () { dirty = false; });
  });
  window.addEventListener("beforeunload", function (event) {
    if (!dirty) { return; }
    event.preventDefault();
    event.returnValue = "";
  });

  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches("input[type=file][data-upload]")) { return; }
    var note = input.parentNode.querySelector("[data-upload-note]");
    var max = parseInt(input.dataset.maxBytes || "0", 10);
    if (!note || !max) { return; }
    var big = Array.prototype.filter.call(input.files || [], function (f) { return f.size > max; });
    note.textContent = big.map(function (f) { return note.dataset.tooLarge.replace("{name}", f.name); }).join(" ");
    note.classList.toggle("d-none", big.length === 0);
  });
})();
