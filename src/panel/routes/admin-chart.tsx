import { HOUR_MS, type HourlyCount } from '../../reports/aggregates.js';

const WIDTH = 400;
const HEIGHT = 170;
const LEFT = 34;
const RIGHT = 20;
const TOP = 12;
const BOTTOM = 26;
const PLOT_WIDTH = WIDTH - LEFT - RIGHT;
const PLOT_HEIGHT = HEIGHT - TOP - BOTTOM;

const hourLabel = (start: number): string => new Date(start).toISOString().slice(11, 16);

function hourRange(start: number): string {
  return `${hourLabel(start)}–${hourLabel(start + HOUR_MS)} UTC`;
}

function plural(count: number, one: string, many: string): string {
  return `${count} ${count === 1 ? one : many}`;
}

/** The chart's sentence for everyone (and the only part a screen reader needs). */
export function failedSignInSummary(hours: readonly HourlyCount[]): string {
  const total = hours.reduce((sum, hour) => sum + hour.count, 0);
  if (total === 0) return 'No failed logins in the last 24 hours.';
  const peak = hours.reduce((best, hour) => (hour.count > best.count ? hour : best));
  return `${plural(total, 'failed login', 'failed logins')} in the last 24 hours; the most in one hour: ${peak.count}, ${hourRange(peak.start)}.`;
}

/**
 * Failed sign-ins per hour as a bar chart drawn on the server: plain SVG elements whose every
 * text is escaped by the renderer, styled by the panel's stylesheet (no inline style, no
 * script), with the same figures as a table for those who do not see the picture.
 */
export function FailedSignInChart({ hours, id }: { hours: readonly HourlyCount[]; id: string }) {
  const highest = Math.max(1, ...hours.map((hour) => hour.count));
  const slot = PLOT_WIDTH / Math.max(1, hours.length);
  const barWidth = Math.max(2, slot * 0.7);
  const bottom = TOP + PLOT_HEIGHT;
  return (
    <figure class="chart">
      <svg
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        role="img"
        aria-labelledby={`${id}-title`}
        focusable="false"
        preserveAspectRatio="xMidYMid meet"
      >
        <title id={`${id}-title`}>Failed logins per hour, last 24 hours</title>
        <desc id={`${id}-desc`}>{failedSignInSummary(hours)}</desc>
        <line class="chart-axis" x1={LEFT} y1={bottom} x2={WIDTH - RIGHT} y2={bottom} />
        <line class="chart-grid" x1={LEFT} y1={TOP} x2={WIDTH - RIGHT} y2={TOP} />
        <text class="chart-label chart-label-y" x={LEFT - 6} y={TOP + 4}>
          {highest}
        </text>
        <text class="chart-label chart-label-y" x={LEFT - 6} y={bottom + 4}>
          0
        </text>
        {hours.map((hour, index) => {
          const height = (hour.count / highest) * PLOT_HEIGHT;
          const x = LEFT + index * slot + (slot - barWidth) / 2;
          return (
            <g key={hour.start}>
              {hour.count > 0 ? (
                <rect class="chart-bar" x={x} y={bottom - height} width={barWidth} height={height}>
                  <title>{`${hourRange(hour.start)}: ${plural(hour.count, 'failed login', 'failed logins')}`}</title>
                </rect>
              ) : null}
              {index % 6 === 0 || index === hours.length - 1 ? (
                <text class="chart-label" x={x + barWidth / 2} y={HEIGHT - 8}>
                  {hourLabel(hour.start)}
                </text>
              ) : null}
            </g>
          );
        })}
      </svg>
      <figcaption>{failedSignInSummary(hours)}</figcaption>
      <details class="chart-table">
        <summary class="chart-table-toggle">Show the figures as a table</summary>
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">Failed logins per hour, last 24 hours</caption>
            <thead>
              <tr>
                <th scope="col">Hour</th>
                <th scope="col">Failed logins</th>
              </tr>
            </thead>
            <tbody>
              {hours.map((hour) => (
                <tr key={hour.start}>
                  <td>{hourRange(hour.start)}</td>
                  <td>{hour.count}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </figure>
  );
}
