/**
 * `isThenable`, shared by the engine and the fast path: phases and body
 * sources may answer with a plain value or a promise, and only a promise is
 * awaited.
 *
 * @module
 */

/** Whether `x` must be awaited (an `await` of a plain value still costs a microtask turn). */
export function isThenable<T>(x: T | PromiseLike<T>): x is PromiseLike<T> {
  return x !== null && typeof x === "object" &&
    typeof (x as { then?: unknown }).then === "function";
}
