/** A JSON object as parsed from a request body or a file: its members not known yet. */
export type JsonObject = Record<string, unknown>;

/** An object in the JSON sense: not null, not an array. */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
