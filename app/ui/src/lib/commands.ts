// A tiny bus between the command palette / global shortcuts and the page that acts on them.

export type CommandName = 'new-chat' | 'stop' | 'focus-input' | 'refresh';

const EVENT = 'mlxr:command';
// A command for a page that is not mounted yet (e.g. "New chat" from the Metrics page) waits here
// until that page mounts and takes it.
let pending: CommandName | null = null;

export function runCommand(name: CommandName): void {
  window.dispatchEvent(new CustomEvent<CommandName>(EVENT, { detail: name }));
}

/** Runs `name` now if a page handles it, else when the next page calls takePendingCommand(). */
export function queueCommand(name: CommandName): void {
  pending = name;
  runCommand(name);
}

export function takePendingCommand(): CommandName | null {
  const p = pending;
  pending = null;
  return p;
}

export function onCommand(handler: (name: CommandName) => void): () => void {
  const l = (e: Event) => {
    const name = (e as CustomEvent<CommandName>).detail;
    if (name === pending) pending = null; // handled by a mounted page
    handler(name);
  };
  window.addEventListener(EVENT, l);
  return () => window.removeEventListener(EVENT, l);
}
