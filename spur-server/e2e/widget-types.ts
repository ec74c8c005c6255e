// Compiled (not run) by `tsc`: the widget's published declarations are
// complete enough for strict TypeScript users.
import init, { SpurClient } from '../../spur-wasm/dist/spur_wasm.js';
import { mountWidget, type Widget } from '../../spur-wasm/dist/spur-widget.js';
import type { FeedEvent, HistoryPage, Reply, SpurError } from '../../spur-wasm/dist/spur_wasm.js';

export async function typed(): Promise<void> {
  await init();
  const client = new SpurClient('https://support.example.com');
  const reply: Reply = await client.send('Do you ship to India?');
  const text: string | null = reply.reply;
  const done = await client.stream('And returns?', (delta: string) => console.log(delta));
  const page: HistoryPage = await client.history({ before: page0(done.replyId), limit: 30 });
  const older: number | null = page.nextCursor;
  client.onEvent((event: FeedEvent) => {
    if (event.type === 'message') console.log(event.data.sender, event.data.text);
    if (event.type === 'status') console.log(event.data.withAgent);
  }, older ?? undefined);
  try {
    await client.escalate();
  } catch (e) {
    const error = e as SpurError;
    console.log(error.code, error.status, text);
  }
  const widget: Widget = await mountWidget(document.body, { server: 'https://support.example.com', position: 'left' });
  widget.open();
  const connected: SpurClient = await widget.connect();
  const now: SpurClient | null = widget.client;
  console.log(connected === now);
}

function page0(_id: string): number | undefined {
  return undefined;
}
