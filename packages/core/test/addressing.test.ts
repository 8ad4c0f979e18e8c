import { describe, expect, it } from 'vitest'
import { isUsernameShaped, parseRecipient, type RecipientName } from '../src/addressing.js'

// SECURITY-TESTS 27: a name means one thing, decided before anything is looked up.

describe('parseRecipient', () => {
  const table: [string | undefined, RecipientName][] = [
    [undefined, { kind: 'self' }],
    ['', { kind: 'self' }],
    ['me', { kind: 'self' }],
    ['  me ', { kind: 'self' }],
    ['@me', { kind: 'colleague', username: 'me' }],
    ['bob', { kind: 'colleague', username: 'bob' }],
    [' bob ', { kind: 'colleague', username: 'bob' }],
    ['@bob', { kind: 'colleague', username: 'bob' }],
    ['#bob', { kind: 'group', name: 'bob' }],
    ['#team plans', { kind: 'group', name: 'team plans' }],
    ['Bob', { kind: 'colleague', username: 'Bob' }],
    // A random id (it has capitals) is that conversation…
    ['Xb3kP0q_Rz9-aaaaaaaaaa', { kind: 'conversation', conversationId: 'Xb3kP0q_Rz9-aaaaaaaaaa' }],
    ['-b3kP0q_Rz9-aaaaaaaaaa', { kind: 'conversation', conversationId: '-b3kP0q_Rz9-aaaaaaaaaa' }],
    // …but 22 characters that spell a possible username are the colleague: group ids are chosen
    // by their creator, so a stranger could give a group the id a colleague's name spells.
    ['alexander-the-great-22', { kind: 'colleague', username: 'alexander-the-great-22' }],
    ['#Xb3kP0q_Rz9-aaaaaaaaaa', { kind: 'group', name: 'Xb3kP0q_Rz9-aaaaaaaaaa' }],
  ]
  for (const [text, want] of table) {
    it(`${JSON.stringify(text)} names ${JSON.stringify(want)}`, () => {
      expect(parseRecipient(text)).toEqual(want)
    })
  }

  it('a bare name is never a group, whatever it is', () => {
    for (const text of ['team', 'bob', 'a.b', 'x_y', 'group', 'self', 'all'])
      expect(parseRecipient(text).kind).not.toBe('group')
  })

  it('knows which texts can be usernames', () => {
    expect(isUsernameShaped('bob')).toBe(true)
    expect(isUsernameShaped('alexander-the-great-22')).toBe(true)
    expect(isUsernameShaped('Xb3kP0q_Rz9-aaaaaaaaaa')).toBe(false)
    expect(isUsernameShaped('-abc')).toBe(false)
  })
})
