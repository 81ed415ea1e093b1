/* Repeating form groups: "add row" / "remove row" within min_rows..max_rows. No dependencies. */
(function () {
  "use strict";

  function rows(group) {
    return group.querySelectorAll(":scope > .group-rows > [data-row]");
  }

  function update(group) {
    var count = rows(group).length;
    var min = Math.max(parseInt(group.dataset.minRows || "0", 10), 1);
    var max = parseInt(group.dataset.maxRows || "50", 10);
    var add = group.querySelector(":scope > [data-add-row]");
    if (add) { add.disabled = count >= max; }
    group.querySelectorAll("[data-remove-row]").forEach(function (button) {
      button.disabled = count <= min;
    });
  }

  function nextIndex(group) {
    var prefix = group.dataset.group + "-";
    var highest = -1;
    group.querySelectorAll("[name^='" + prefix + "']").forEach(function (el) {
      var index = parseInt(el.name.slice(prefix.length), 10);
      if (!isNaN(index) && index > highest) { highest = index; }
    });
    return highest + 1;
  }

  function renumber(el, pattern, replacement) {
    ["name", "id", "for", "aria-labelledby"].forEach(function (attr) {
      var value = el.getAttribute(attr);
      if (value) { el.setAttribute(attr, value.replace(pattern, replacement)); }
    });
  }

  function addRow(group) {
    var existing = rows(group);
    var max = parseInt(group.dataset.maxRows || "50", 10);
    if (!existing.length || existing.length >= max) { return; }
    var name = group.dataset.group;
    var pattern = new RegExp("^" + name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") + "-\\d+-");
    var replacement = name + "-" + nextIndex(group) + "-";
    var clone = existing[existing.length - 1].cloneNode(true);
    clone.querySelectorAll("*").forEach(function (el) { renumber(el, pattern, replacement); });
    clone.querySelectorAll("input, textarea, select").forEach(function (el) {
      el.classList.remove("is-invalid");
      if (el.type === "checkbox" || el.type === "radio") { el.checked = false; }
      else if (el.tagName === "SELECT") { Array.prototype.forEach.call(el.options, function (o) { o.selected = false; }); if (!el.multiple) { el.selectedIndex = 0; } }
      else if (el.type !== "hidden") { el.value = ""; }
    });
    clone.querySelectorAll(".invalid-feedback").forEach(function (el) { el.remove(); });
    group.querySelector(":scope > .group-rows").appendChild(clone);
    var first = clone.querySelector("input, textarea, select");
    if (first) { first.focus(); }
    update(group);
  }

  document.addEventListener("click", function (event) {
    var add = event.target.closest("[data-add-row]");
    if (add) { event.preventDefault(); addRow(add.closest("[data-group]")); return; }
    var remove = event.target.closest("[data-remove-row]");
    if (remove) {
      event.preventDefault();
      var group = remove.closest("[data-group]");
      var min = Math.max(parseInt(group.dataset.minRows || "0", 10), 1);
      if (rows(group).length > min) { remove.closest("[data-row]").remove(); }
      update(group);
    }
  });

  /* The date picker sends nothing for an impossible date (02/31): say it is invalid, not missing. */
  function badDates(form) {
    var bad = [];
    form.querySelectorAll("input[data-invalid-message]").forEach(function (input) {
      var note = input.parentNode.querySelector("[data-date-note]");
      if (input.validity && input.validity.badInput) {
        if (!note) {
          note = document.createElement("div");
          note.className = "invalid-feedback d-block";
          note.setAttribute("data-date-note", "");
          input.insertAdjacentElement("afterend", note);
        }
        note.textContent = input.dataset.invalidMessage;
        input.classList.add("is-invalid");
        bad.push(input);
      } else if (note) {
        note.remove();
        input.classList.remove("is-invalid");
      }
    });
    return bad;
  }

  /* A submitted form cannot be sent twice by a double click. */
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var bad = badDates(form);
    if (bad.length) { event.preventDefault(); bad[0].focus(); return; }
    if (form.dataset.once === undefined) { return; }
    if (form.dataset.sent) { event.preventDefault(); return; }
    form.dataset.sent = "1";
    form.querySelectorAll("[type=submit]").forEach(function (b) { b.classList.add("disabled"); });
  });

  document.querySelectorAll("[data-group]").forEach(update);
})();
