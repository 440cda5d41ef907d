/**
 * Form errors shown next to the fields they name, shared by every panel of the page.
 */

/** Clear a form's field errors and its error line (if any). */
export function clearErrors(form, line) {
  if (line) line.textContent = "";
  for (const el of form.querySelectorAll("[data-error-for]")) {
    el.textContent = "";
    const input = form.elements.namedItem(el.dataset.errorFor);
    if (input) input.removeAttribute("aria-invalid");
  }
}

/** Show ``message`` next to ``field``; false when the form has no place for it. */
export function fieldError(form, field, message) {
  for (const el of form.querySelectorAll("[data-error-for]")) {
    if (el.dataset.errorFor !== field) continue;
    el.textContent = message;
    const input = form.elements.namedItem(field);
    if (input) input.setAttribute("aria-invalid", "true");
    return true;
  }
  return false;
}
