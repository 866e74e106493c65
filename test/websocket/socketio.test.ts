/**
 * Socket.IO 4 end to end through both adapters: three Socket.IO servers behind the gateway, many
 * Node clients that keep cookies. Each client must connect over long-polling, upgrade to
 * WebSocket, and get every acknowledgement from the server that took its handshake; clients
 * must be spread over the servers; no `connect_error`. Without stickiness on both the polling
 * requests and the upgrade, Socket.IO fails with "Session ID unknown" or silently stays on
 * long-polling.
 */
import t, { type Test } from 'tap'
import { ADAPTERS, startGateway, type Adapter } from './harness.js'
import { closeIo, connectIo, startIoMember, type IoClient, type IoMember } from './socketio-members.js'

const CLIENTS = 12

async function ioMembers (routes: string[]): Promise<IoMember[]> {
  return await Promise.all(routes.map(async r => await startIoMember(r)))
}

function eachAdapter (name: string, scenario: (t: Test, adapter: Adapter) => Promise<void>): void {
  t.test(name, async t => {
    t.jobs = ADAPTERS.length
    for (const adapter of ADAPTERS) t.test(adapter, async t => { await scenario(t, adapter) })
  })
}

eachAdapter(`${CLIENTS} Socket.IO clients connect, upgrade to WebSocket, and every acknowledgement comes from the same server`, async (t, adapter) => {
  const members = await ioMembers(['node1', 'node2', 'node3'])
  const gw = await startGateway(t, adapter, { members: members.map(m => ({ url: m.url, route: m.route })), routeCookie: 'ROUTEID' })
  const clients: IoClient[] = []
  t.teardown(async () => { await closeIo(clients, gw, members) })
  clients.push(...await Promise.all(Array.from({ length: CLIENTS }, async () => await connectIo(gw.origin))))
  const perMember = new Map<string, number>()
  for (const [i, client] of clients.entries()) {
    const first = await client.whoami()
    await client.upgraded()
    const later = await Promise.all([client.whoami(), client.whoami(), client.whoami()])
    t.same(later.map(a => a.member), [first.member, first.member, first.member], `client ${i + 1}: every acknowledgement from ${first.member}`)
    t.equal(client.connectedOver, 'polling', `client ${i + 1}: connected over long-polling`)
    t.same(later.map(a => a.transport), ['websocket', 'websocket', 'websocket'], `client ${i + 1}: then over WebSocket`)
    perMember.set(first.member, (perMember.get(first.member) ?? 0) + 1)
  }
  t.same([...perMember.keys()].sort(), ['node1', 'node2', 'node3'], `clients spread over the servers: ${JSON.stringify(Object.fromEntries(perMember))}`)
  t.same(clients.flatMap(c => c.problems), [], 'no connect_error, no disconnect')
})

eachAdapter('Socket.IO under a prefix / mount path, with a server that goes away: the client reconnects to a live one', async (t, adapter) => {
  const members = await ioMembers(['node1', 'node2'])
  const gw = await startGateway(t, adapter, { prefix: '/rt', members: members.map(m => ({ url: m.url, route: m.route })), routeCookie: 'ROUTEID' })
  const client = await connectIo(gw.origin, { path: '/rt/socket.io/' })
  t.teardown(async () => { await closeIo([client], gw, members) })
  const { member } = await client.whoami()
  await client.upgraded()
  const gone = members.find(m => m.route === member) as IoMember
  const disconnected = new Promise<string>(resolve => client.socket.once('disconnect', reason => resolve(reason)))
  await gone.close()
  t.ok(await disconnected, 'the client notices at once')
  client.socket.connect()
  await new Promise<void>(resolve => client.socket.once('connect', () => resolve()))
  const again = await client.whoami()
  t.not(again.member, member, 'it reconnects to the live server (re-pinned by a new cookie)')
  await client.upgraded()
  t.same(await Promise.all([client.whoami(), client.whoami()]).then(a => a.map(x => x.member)), [again.member, again.member])
})
