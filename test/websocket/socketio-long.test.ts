/**
 * Slow test (about 62 s; both adapters run side by side): Socket.IO clients stay connected
 * through the gateway for longer than two ping cycles (pingInterval 25 s + pingTimeout 20 s).
 * A polling-only client has a long-poll held for up to 25 s at a time, and a WebSocket client
 * sits idle between pings: no timeout of the gateway may cut either.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { ADAPTERS, startGateway } from './harness.js'
import { closeIo, connectIo, startIoMember } from './socketio-members.js'

const HOLD_MS = 62_000

t.jobs = ADAPTERS.length
for (const adapter of ADAPTERS) {
  t.test(`${adapter}: a polling-only client and an idle WebSocket client stay connected for ${HOLD_MS / 1000} s`, async t => {
    const members = await Promise.all(['node1', 'node2'].map(async r => await startIoMember(r)))
    const gw = await startGateway(t, adapter, { members: members.map(m => ({ url: m.url, route: m.route })), routeCookie: 'ROUTEID' })
    const polling = await connectIo(gw.origin, { transports: ['polling'] })
    const ws = await connectIo(gw.origin)
    t.teardown(async () => { await closeIo([polling, ws], gw, members) })
    await ws.upgraded()
    const before = [await polling.whoami(), await ws.whoami()]
    t.equal(before[0]?.transport, 'polling')
    t.equal(before[1]?.transport, 'websocket')
    await sleep(HOLD_MS)
    t.same(polling.problems, [], 'the polling client was never disconnected')
    t.same(ws.problems, [], 'the WebSocket client was never disconnected')
    t.same([await polling.whoami(), await ws.whoami()], before, 'both still answered by the same servers, on the same transports')
  })
}
