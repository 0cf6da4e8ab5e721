// Which vhost the page shows. Pure (no DOM), so that Node's test runner checks the order:
// the one on screen while it exists, else the URL's ?vhost=, else the user's last choice (kept
// in localStorage), else the server's suggestion (the Celery broker's vhost, else the busiest),
// else "/", else the first.

export const STORAGE_KEY = 'visualiser.vhost';

export function chooseVhost({ names, current = null, wanted = null, stored = null, suggested = null }) {
  for (const candidate of [current, wanted, stored, suggested, '/']) {
    if (candidate !== null && candidate !== undefined && names.includes(candidate)) return candidate;
  }
  return names.length ? names[0] : null;
}

/** The user's last choice, or null (storage refused: a private window, a policy). */
export function storedVhost(storage) {
  try {
    return storage?.getItem(STORAGE_KEY) ?? null;
  } catch {
    return null;
  }
}

export function rememberVhost(storage, vhost) {
  try {
    storage?.setItem(STORAGE_KEY, vhost);
  } catch {
    // Storage full or refused: the choice still holds on this page through its URL.
  }
}
