// Drives supabase-js's Realtime (serializer 2.0.0) for tests/test_realtime_supabase_js.py:
// joins one channel and prints one JSON line per thing that happens (its subscribe status,
// each broadcast received), sends a broadcast when asked, and exits after SECONDS.
//   SUPABASE_URL, ANON_KEY, [ACCESS_TOKEN], TOPIC, [PRIVATE=1], [SEND_EVENT, SEND_PAYLOAD],
//   [SELF=1], SECONDS
import { createClient } from '@supabase/supabase-js';
import WebSocket from 'ws';

const env = process.env;
const print = (line) => process.stdout.write(JSON.stringify(line) + '\n');
const client = createClient(env.SUPABASE_URL, env.ANON_KEY, {
  auth: { persistSession: false, autoRefreshToken: false },
  realtime: { transport: WebSocket, params: { log_level: 'error' } },
});
if (env.ACCESS_TOKEN) await client.realtime.setAuth(env.ACCESS_TOKEN);
print({ vsn: client.realtime.vsn });

const channel = client.channel(env.TOPIC, {
  config: { private: env.PRIVATE === '1', broadcast: { self: env.SELF === '1', ack: true } },
});
channel.on('broadcast', { event: '*' }, (message) => print({ broadcast: message }));
channel.subscribe(async (status, error) => {
  print({ status, error: error ? String(error.message || error) : null });
  if (status === 'SUBSCRIBED' && env.SEND_EVENT) {
    const result = await channel.send({
      type: 'broadcast',
      event: env.SEND_EVENT,
      payload: JSON.parse(env.SEND_PAYLOAD || '{}'),
    });
    print({ sent: result });
  }
});
setTimeout(async () => {
  await client.removeAllChannels();
  process.exit(0);
}, Number(env.SECONDS || 3) * 1000);
