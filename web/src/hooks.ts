import { createContext, useCallback, useContext, useEffect, useRef, useState, type RefObject } from 'react';
import { api, ApiError, withQuery, type Page, type SessionUser } from './api.js';

export interface SessionContextValue {
  user: SessionUser;
  /** An admin who must set up two-factor sign-in first (OVERAIR_REQUIRE_TOTP_FOR_ADMINS). */
  enrolmentRequired: boolean;
  signOut(): Promise<void>;
  /** Reads the session again (after enrolling, the enrolment requirement is lifted). */
  refresh(): Promise<void>;
}

export const SessionContext = createContext<SessionContextValue | null>(null);

export function useSession(): SessionContextValue {
  const value = useContext(SessionContext);
  if (!value) throw new Error('useSession outside a signed-in page');
  return value;
}

export function useCan() {
  const { user } = useSession();
  return {
    publish: user.scope === 'publish' || user.scope === 'admin',
    admin: user.scope === 'admin',
    /**
     * The release role (protected channels, approving release requests): held by admins until roles
     * are stored per app (src/domain/roles.ts, grantsFromScope).
     */
    release: user.scope === 'admin',
  };
}

export function asApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  return new ApiError(0, 'client_error', error instanceof Error ? error.message : String(error));
}

export interface Loaded<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  reload(): void;
}

/** GET `route` (again when it changes or on `reload()`); null waits. */
export function useApi<T>(route: string | null): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: ApiError; loading: boolean }>({ loading: true });
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    if (route === null) return;
    let live = true;
    setState((previous) => ({ data: previous.data, loading: true }));
    api<T>('GET', route).then(
      (data) => live && setState({ data, loading: false }),
      (error: unknown) => live && setState({ error: asApiError(error), loading: false }),
    );
    return () => {
      live = false;
    };
  }, [route, generation]);
  const reload = useCallback(() => setGeneration((value) => value + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

export interface Paged<T> {
  items: T[];
  error: ApiError | undefined;
  loading: boolean;
  /** The API said there is more (a next_cursor). */
  more: boolean;
  loadMore(): void;
  reload(): void;
}

/** A list the API pages with `limit` and `cursor`: the first page, then the next on `loadMore()`. */
export function usePaged<T>(route: string | null, limit = 50): Paged<T> {
  const [items, setItems] = useState<T[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<ApiError>();
  const [loading, setLoading] = useState(true);
  const [generation, setGeneration] = useState(0);
  const request = useRef(0);

  const fetchPage = useCallback(
    (after: string | null, append: boolean) => {
      if (route === null) return;
      const id = ++request.current;
      setLoading(true);
      setError(undefined);
      api<Page<T>>('GET', withQuery(route, { limit, cursor: after }))
        .then((page) => {
          if (id !== request.current) return;
          setItems((previous) => (append ? [...previous, ...page.items] : page.items));
          setCursor(page.next_cursor ?? null);
        })
        .catch((failure: unknown) => {
          if (id === request.current) setError(asApiError(failure));
        })
        .finally(() => {
          if (id === request.current) setLoading(false);
        });
    },
    [route, limit],
  );

  useEffect(() => {
    fetchPage(null, false);
  }, [fetchPage, generation]);

  return {
    items,
    error,
    loading,
    more: cursor !== null,
    loadMore: () => fetchPage(cursor, true),
    reload: () => setGeneration((value) => value + 1),
  };
}

/** Runs an API action, keeping its pending state and error for the form that started it. */
export function useAction() {
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<ApiError>();
  const run = useCallback(async <R>(action: () => Promise<R>): Promise<R | undefined> => {
    setPending(true);
    setError(undefined);
    try {
      return await action();
    } catch (failure) {
      setError(asApiError(failure));
      return undefined;
    } finally {
      setPending(false);
    }
  }, []);
  return { pending, error, setError, run };
}

/** The width of an element in CSS pixels, kept up to date (charts draw at their real size). */
export function useWidth<E extends HTMLElement>(): [RefObject<E | null>, number] {
  const ref = useRef<E>(null);
  const [width, setWidth] = useState(0);
  useEffect(() => {
    const element = ref.current;
    if (!element) return;
    setWidth(element.clientWidth);
    const observer = new ResizeObserver(() => setWidth(element.clientWidth));
    observer.observe(element);
    return () => observer.disconnect();
  }, []);
  return [ref, width];
}

/** `value`, once it stopped changing for `ms` (search boxes). */
export function useDebounced<T>(value: T, ms = 250): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

/**
 * A confirmed action: `ask(target)` opens the question, `confirm()` runs `run(target)` and, when it
 * answers, closes it and calls `onDone`; `cancel()` closes it and forgets the error.
 * `dialog` holds the props a ConfirmDialog needs.
 */
export function useConfirmed<T>(run: (target: T) => Promise<unknown>, onDone: (target: T) => void) {
  const [target, setTarget] = useState<T | null>(null);
  const action = useAction();
  const ask = (next: T) => setTarget(next);
  const confirm = () => {
    if (target === null) return;
    const current = target;
    void action
      .run(() => run(current))
      .then((answer) => {
        if (!answer) return;
        setTarget(null);
        onDone(current);
      });
  };
  const cancel = () => {
    setTarget(null);
    action.setError(undefined);
  };
  return {
    target,
    ask,
    confirm,
    cancel,
    pending: action.pending,
    error: action.error,
    dialog: { pending: action.pending, error: action.error, onConfirm: confirm, onCancel: cancel },
  };
}
