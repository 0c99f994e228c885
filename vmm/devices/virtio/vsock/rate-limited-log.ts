// A log sink that lets a hostile guest cost at most a bounded number of log lines per time window.

export type LogFn = (message: string) => void;

/** Lines allowed per window before further ones are counted and summarised. */
export const LOG_BURST = 20;
export const LOG_WINDOW_MS = 1000;

/**
 * Wraps `sink` so that at most `burst` lines pass per `windowMs`; the rest are counted and reported
 * in one summary line when the next window opens.
 */
export function rateLimitedLog(sink: LogFn, burst = LOG_BURST, windowMs = LOG_WINDOW_MS, now: () => number = Date.now): LogFn {
  let windowStart = -Infinity;
  let used = 0;
  let suppressed = 0;
  return (message: string) => {
    const t = now();
    if (t - windowStart >= windowMs) {
      if (suppressed > 0) sink(`(${suppressed} similar log lines suppressed)`);
      windowStart = t;
      used = 0;
      suppressed = 0;
    }
    if (used < burst) {
      used++;
      sink(message);
    } else {
      suppressed++;
    }
  };
}
