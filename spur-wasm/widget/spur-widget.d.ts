// Types for spur-widget.js. SpurClient's own are in spur_wasm.d.ts (generated).
import { SpurClient } from './spur_wasm.js';
export { SpurClient };

export interface WidgetOptions {
  /** The Spur server's origin; default: the page's. */
  server?: string;
  title?: string;
  /** Shown (not stored) when a conversation has not started yet. */
  greeting?: string;
  /** The team's picture in the header (an image URL). */
  avatar?: string;
  /** Questions offered before the conversation starts (default: the server's WIDGET_SUGGESTIONS). */
  suggestions?: string[];
  placeholder?: string;
  /** CSS colour of the launcher, header and customer bubbles. */
  color?: string;
  font?: string;
  position?: 'left' | 'right';
  /** The server's MESSAGE_MAX_CHARS, if not 5,000. */
  maxChars?: number;
  /** A signed-in customer's id in the shop's systems (`data-customer-id`). */
  customerId?: string;
  /** hex HMAC-SHA256 of `customerId` under the server's IDENTITY_SECRET,
   * computed by the shop's backend, never in the page (`data-customer-hash`). */
  customerHash?: string;
}

export interface Widget {
  /** The chat's client; null until the chat first opens (or `connect()`). */
  readonly client: SpurClient | null;
  /** Loads the wasm now (it loads when the chat first opens otherwise). */
  connect(): Promise<SpurClient>;
  host: HTMLElement;
  open(): void;
  close(): void;
}

/** Loads the wasm client once; call before `new SpurClient(...)`. */
export function ready(): Promise<void>;

/** Mounts the launcher and panel into `target` (usually document.body). */
export function mountWidget(target: HTMLElement, options?: WidgetOptions): Promise<Widget>;
