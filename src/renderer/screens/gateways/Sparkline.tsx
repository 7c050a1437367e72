/**
 * A small line chart of a series' values in plain SVG (no chart library: a polyline scaled to the
 * box). The caller gives the accessible summary; the values are drawn oldest left, newest right.
 */
export function Sparkline({ values, label, width = 160, height = 36 }: { values: number[]; label: string; width?: number; height?: number }) {
  const pad = 3;
  const min = Math.min(...values);
  const max = Math.max(...values);
  const x = (i: number): number => (values.length === 1 ? width / 2 : pad + (i * (width - 2 * pad)) / (values.length - 1));
  // A flat series sits in the middle instead of on an edge.
  const y = (v: number): number => (max === min ? height / 2 : height - pad - ((v - min) * (height - 2 * pad)) / (max - min));
  const points = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
  return (
    <svg className="sparkline" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label={label} data-points={values.length}>
      {values.length > 1 && <polyline points={points} />}
      <circle cx={x(values.length - 1)} cy={y(values.at(-1) ?? 0)} r={2.5} />
    </svg>
  );
}
