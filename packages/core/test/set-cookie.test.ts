/**
 * withSetCookie(): the balancer's cookie after the member's own Set-Cookie lines, a lone one as a string.
 */
import fc from 'fast-check'
import t from 'tap'
import { withSetCookie } from '@stickyroute/core'

const OURS = 'ROUTEID=.b; Path=/; HttpOnly; SameSite=Lax'

t.test('withSetCookie(): table', async t => {
  const cases: Array<[string, string | string[] | undefined, string | string[]]> = [
    ['no cookie of the member: ours alone, as a string', undefined, OURS],
    ['one line as a string (undici)', 'JSESSIONID=A.b; Path=/', ['JSESSIONID=A.b; Path=/', OURS]],
    ['one line in an array (Node)', ['JSESSIONID=A.b; Path=/'], ['JSESSIONID=A.b; Path=/', OURS]],
    ['several lines: ours last', ['a=1', 'b=2'], ['a=1', 'b=2', OURS]],
    ['an empty array', [], [OURS]]
  ]
  for (const [name, previous, expected] of cases) t.same(withSetCookie(previous, OURS), expected, name)
})

t.test('withSetCookie(): the member\'s lines are kept in order, ours comes last, the input is not changed', async () => {
  fc.assert(fc.property(fc.array(fc.string()), fc.string(), (lines, cookie) => {
    const before = [...lines]
    const out = withSetCookie(lines, cookie)
    return Array.isArray(out) && out.length === lines.length + 1 && out.at(-1) === cookie &&
      out.slice(0, -1).every((line, i) => line === lines[i]) && lines.every((line, i) => line === before[i])
  }))
})
