/** Reading a broker's Prometheus endpoint in tests. */
import { expect } from 'vitest';

/** Prometheus text → value by series (`name{labels}`), labels sorted by the exporter. */
export async function scrape(url: string): Promise<Map<string, number>> {
  const response = await fetch(url);
  expect(response.status).toBe(200);
  const series = new Map<string, number>();
  for (const line of (await response.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    series.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return series;
}

/** One series of a scrape; 0 when absent (a counter not yet counted). */
export const value = (series: Map<string, number>, name: string, labels: string): number =>
  series.get(`${name}{${labels}}`) ?? 0;
