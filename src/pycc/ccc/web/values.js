/**
 * Reading what the server sent: values of the expected type, or nothing.
 */

export function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

export function textOf(value) {
  return typeof value === "string" || typeof value === "number" ? String(value) : "";
}

export function numberOrNull(value) {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}
