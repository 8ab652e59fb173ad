/**
 * Marks the controls a refused request names (field-violations.ts decides which): aria-invalid,
 * described by the error box, their panel opened, the first focused; cleared at the next run.
 */
import { controlForField, violatedFields } from "./field-violations.js";

const marked = "field-invalid";

/** Removes every mark a previous refusal left. */
export function clearViolations(): void {
  for (const element of document.querySelectorAll(`.${marked}`)) {
    element.classList.remove(marked);
    element.removeAttribute("aria-invalid");
    element.removeAttribute("aria-errormessage");
  }
}

/** Marks the controls a refused request names; returns their ids. `errorBoxId` holds the message. */
export function markViolations(error: unknown, errorBoxId: string): string[] {
  clearViolations();
  const ids = [...new Set(violatedFields(error).flatMap((field) => controlForField(field) ?? []))];
  const elements = ids.flatMap((id) => document.getElementById(id) ?? []);
  for (const element of elements) {
    element.classList.add(marked);
    element.setAttribute("aria-invalid", "true");
    element.setAttribute("aria-errormessage", errorBoxId);
    // A control inside a closed panel (the limits) would be marked unseen.
    const panel = element.closest("details");
    if (panel) panel.open = true;
  }
  elements[0]?.focus();
  return ids;
}
