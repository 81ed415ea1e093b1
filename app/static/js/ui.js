/* Small behaviours of every page, bound by data- attributes (the pages carry no inline script:
   the content security policy allows scripts from this site only). */
(function () {
  "use strict";

  /* <input type="checkbox" data-select-all="NAME">: ticks or clears every checkbox named NAME. */
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("input[data-select-all]")) { return; }
    document.querySelectorAll("input[type=checkbox][name='" + box.dataset.selectAll + "']").forEach(function (other) {
      other.checked = box.checked;
    });
  });
}());
