import {
  cloneElement,
  useEffect,
  useId,
  useRef,
  useState,
  type FormEvent,
  type InputHTMLAttributes,
  type ReactElement,
  type ReactNode,
} from 'react';
import type { ApiError } from './api.js';
import { useWidth, type Paged } from './hooks.js';

export function ErrorBox({ error }: { error: ApiError | undefined | null }) {
  if (!error) return null;
  return (
    <div className="error" role="alert">
      {error.message}
    </div>
  );
}

export function Notice({ children }: { children: ReactNode }) {
  return (
    <div className="notice" role="status">
      {children}
    </div>
  );
}

export function Loading({ what = 'Loading' }: { what?: string }) {
  return <p className="muted">{what}…</p>;
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

export function Card(props: {
  title?: ReactNode;
  actions?: ReactNode;
  children: ReactNode;
  className?: string;
}) {
  return (
    <section className={`card ${props.className ?? ''}`}>
      {(props.title !== undefined || props.actions !== undefined) && (
        <header className="card-head">
          {props.title !== undefined && <h2>{props.title}</h2>}
          {props.actions}
        </header>
      )}
      {props.children}
    </section>
  );
}

export function Badge({
  children,
  tone = 'plain',
}: {
  children: ReactNode;
  tone?: 'plain' | 'good' | 'warn' | 'bad';
}) {
  return <span className={`badge badge-${tone}`}>{children}</span>;
}

/** "Load more" under a paged list, with its error. */
export function Pager<T>({ paged }: { paged: Paged<T> }) {
  return (
    <div className="pager">
      <ErrorBox error={paged.error} />
      {paged.loading && <Loading />}
      {!paged.loading && paged.more && (
        <button type="button" className="secondary" onClick={paged.loadMore}>
          Load more
        </button>
      )}
    </div>
  );
}

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['year', 365 * 86_400],
  ['month', 30 * 86_400],
  ['day', 86_400],
  ['hour', 3600],
  ['minute', 60],
  ['second', 1],
];
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

/** A moment as "3 minutes ago", with the exact date-time on hover. */
export function Time({ at }: { at: string | null | undefined }) {
  if (!at) return <span className="muted">never</span>;
  const date = new Date(at);
  const seconds = (date.getTime() - Date.now()) / 1000;
  const [unit, size] = UNITS.find(([, size]) => Math.abs(seconds) >= size) ?? ['second', 1];
  return (
    <time dateTime={at} title={date.toLocaleString()}>
      {Math.abs(seconds) < 10 ? 'just now' : relative.format(Math.round(seconds / size), unit)}
    </time>
  );
}

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return '—';
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function formatPercent(fraction: number): string {
  const percent = fraction * 100;
  return `${percent === 0 || percent >= 10 ? percent.toFixed(0) : percent.toFixed(1)}%`;
}

export function ProgressBar({ value, label }: { value: number; label: string }) {
  const percent = Math.max(0, Math.min(100, value * 100));
  return (
    <div
      className="progress"
      role="progressbar"
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={Math.round(percent)}
      aria-label={label}
    >
      <div className="progress-fill" style={{ width: `${percent}%` }} />
    </div>
  );
}

/** A modal question; `onConfirm` runs the action (its error is shown in the dialog). */
export function ConfirmDialog(props: {
  title: string;
  children: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  pending?: boolean;
  error?: ApiError;
  onConfirm(): void;
  onCancel(): void;
}) {
  const confirm = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    confirm.current?.focus();
    const onKey = (event: KeyboardEvent) => {
      if (event.key === 'Escape') props.onCancel();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
    // Once, on opening: the dialog lives as long as its question.
  }, []);
  return (
    <div className="overlay" onClick={props.onCancel}>
      <div
        className="dialog"
        role="dialog"
        aria-modal="true"
        aria-labelledby="dialog-title"
        onClick={(event) => event.stopPropagation()}
      >
        <h2 id="dialog-title">{props.title}</h2>
        <div className="dialog-body">{props.children}</div>
        <ErrorBox error={props.error} />
        <div className="actions">
          <button type="button" className="secondary" onClick={props.onCancel}>
            Cancel
          </button>
          <button
            type="button"
            ref={confirm}
            className={props.danger ? 'danger' : undefined}
            disabled={props.pending}
            onClick={props.onConfirm}
          >
            {props.pending ? 'Working…' : props.confirmLabel}
          </button>
        </div>
      </div>
    </div>
  );
}

export interface Bar {
  label: string;
  value: number;
  /** Drawn in the accent colour (the live version). */
  highlight?: boolean;
  note?: string;
}

/** Horizontal bars as inline SVG, drawn at the element's real width so text stays legible on phones. */
export function BarChart({ bars, label }: { bars: Bar[]; label: string }) {
  const [ref, width] = useWidth<HTMLDivElement>();
  const max = Math.max(1, ...bars.map((bar) => bar.value));
  const row = 30;
  const labelWidth = Math.min(150, Math.max(70, width * 0.3));
  const valueWidth = 56;
  const barSpace = Math.max(20, width - labelWidth - valueWidth - 8);
  const height = bars.length * row;
  return (
    <div ref={ref} className="chart">
      {width > 0 && (
        <svg width={width} height={height} role="img" aria-label={label} viewBox={`0 0 ${width} ${height}`}>
          {bars.map((bar, index) => {
            const y = index * row;
            const length = Math.max(bar.value > 0 ? 3 : 0, (bar.value / max) * barSpace);
            return (
              <g key={bar.label} data-version={bar.label}>
                <title>{`${bar.label}: ${bar.value}${bar.note ? ` (${bar.note})` : ''}`}</title>
                <text
                  x={labelWidth - 8}
                  y={y + row / 2}
                  textAnchor="end"
                  dominantBaseline="central"
                  className="chart-label"
                >
                  {bar.label.length > 18 ? `${bar.label.slice(0, 17)}…` : bar.label}
                </text>
                <rect
                  x={labelWidth}
                  y={y + 6}
                  width={barSpace}
                  height={row - 12}
                  rx={3}
                  className="chart-track"
                />
                <rect
                  x={labelWidth}
                  y={y + 6}
                  width={length}
                  height={row - 12}
                  rx={3}
                  className={bar.highlight ? 'chart-bar chart-bar-live' : 'chart-bar'}
                />
                <text
                  x={labelWidth + barSpace + 8}
                  y={y + row / 2}
                  dominantBaseline="central"
                  className="chart-value"
                >
                  {bar.value.toLocaleString()}
                </text>
              </g>
            );
          })}
        </svg>
      )}
    </div>
  );
}

/**
 * A labelled form field: the label points at its one control (`htmlFor`), so that the control's
 * name is the label alone, and the hint is its description.
 */
/** A Field around a text input: `onChange` gets the new value. */
export function TextField({
  label,
  hint,
  onChange,
  ...input
}: { label: string; hint?: ReactNode; value: string; onChange(value: string): void } & Omit<
  InputHTMLAttributes<HTMLInputElement>,
  'value' | 'onChange'
>) {
  return (
    <Field label={label} hint={hint}>
      <input {...input} onChange={(event) => onChange(event.target.value)} />
    </Field>
  );
}

export function Field(props: {
  label: string;
  hint?: ReactNode;
  children: ReactElement;
  className?: string;
}) {
  const id = useId();
  const hintId = `${id}-hint`;
  const control = cloneElement(props.children as ReactElement<{ id?: string; 'aria-describedby'?: string }>, {
    id,
    'aria-describedby': props.hint ? hintId : undefined,
  });
  return (
    <div className={`field ${props.className ?? ''}`}>
      <label className="field-label" htmlFor={id}>
        {props.label}
      </label>
      {control}
      {props.hint && (
        <span className="hint" id={hintId}>
          {props.hint}
        </span>
      )}
    </div>
  );
}

/** A form whose submit is prevented and handed to `onSubmit`. */
export function Form(props: { onSubmit(): void; children: ReactNode; className?: string; label?: string }) {
  const submit = (event: FormEvent) => {
    event.preventDefault();
    props.onSubmit();
  };
  return (
    <form className={props.className} onSubmit={submit} aria-label={props.label}>
      {props.children}
    </form>
  );
}

/** A secret shown once, with a copy button. */
export function Secret({ value, children }: { value: string; children: ReactNode }) {
  const [copied, setCopied] = useState(false);
  const copy = () => {
    void navigator.clipboard?.writeText(value).then(() => setCopied(true));
  };
  return (
    <div className="secret" role="status">
      <p>{children}</p>
      <div className="secret-row">
        <code data-testid="secret">{value}</code>
        {navigator.clipboard && (
          <button type="button" className="secondary" onClick={copy}>
            {copied ? 'Copied' : 'Copy'}
          </button>
        )}
      </div>
    </div>
  );
}
