/** A job's headers as its hash and the scripts keep them: JSON, or '' when there are none. */
export function encodeHeaders(headers: Readonly<Record<string, string>>): string {
  for (const _ in headers) return JSON.stringify(headers);
  return '';
}

export function parseHeaders(text: string): Record<string, string> {
  if (!text) return {};
  return JSON.parse(text) as Record<string, string>;
}
