// Keyward console: progressive enhancement only. Every page works without this file;
// with it, copy buttons copy, dialogs open in place, and the organization switcher
// switches on change. No inline handlers (the Content-Security-Policy forbids them).
"use strict";

document.addEventListener("click", async (event) => {
  const copy = event.target.closest("[data-copy]");
  if (copy) {
    const source = document.getElementById(copy.dataset.copy);
    if (!source) return;
    const text = source.value !== undefined ? source.value : source.textContent;
    try {
      await navigator.clipboard.writeText(text.trim());
      const label = copy.textContent;
      copy.textContent = "Copied";
      copy.setAttribute("aria-live", "polite");
      setTimeout(() => { copy.textContent = label; }, 2000);
    } catch (_) {
      if (source.select) source.select();
    }
    return;
  }
  const open = event.target.closest("[data-open-dialog]");
  if (open) {
    const dialog = document.getElementById(open.dataset.openDialog);
    if (dialog && dialog.showModal) {
      event.preventDefault();
      dialog.showModal();
    }
    return;
  }
    const close = event.target.closest("[data-close-dialog]");
  if (close) {
    const dialog = close.closest("dialog");
    if (dialog) {
      event.preventDefault();
      // Gone at once, not when the close event is dispatched later.
      forgetSecret(dialog);
      dialog.close();
    }
  }
});

// A dialog that holds a secret loses it when closed: the secret is removed from the
// page, so it cannot be seen again.
function forgetSecret(dialog) {
  if (dialog.matches && dialog.matches("dialog[data-secret]") && dialog.dataset.shown) {
    dialog.querySelectorAll("[data-secret-value]").forEach((el) => {
      if (el.value !== undefined) el.value = "";
      el.textContent = "";
    });
    if (dialog.open) dialog.close();
    dialog.remove();
  }
}
document.addEventListener("close", (event) => forgetSecret(event.target), true);

document.addEventListener("change", (event) => {
  const select = event.target.closest("select[data-autosubmit]");
  if (select && select.form) select.form.requestSubmit();
  const toggle = event.target.closest("[data-shows]");
  if (toggle) showChoices();
});

// Fields that belong to one choice of a radio group (`data-when="name=value"`) are shown
// only while it is chosen.
function showChoices() {
  document.querySelectorAll("[data-when]").forEach((el) => {
    const [name, value] = el.dataset.when.split("=");
    const chosen = document.querySelector(`input[name="${name}"]:checked, select[name="${name}"]`);
    const on = chosen && chosen.value === value;
    el.hidden = !on;
  });
}

document.addEventListener("DOMContentLoaded", () => {
  showChoices();
  // A dialog the server rendered open (so that it shows without this script) becomes
  // modal: focus stays in it until it is closed.
  const dialog = document.querySelector("dialog[data-open-on-load]");
  if (dialog && dialog.showModal) {
    dialog.removeAttribute("open");
    dialog.showModal();
    dialog.dataset.shown = "1";
  }
  document.querySelectorAll("button[data-copy]").forEach((b) => { b.hidden = false; });
});
