import t from 'tap'
import { checkNewPassword, normalisePassword, normaliseUsername } from '../../src/credentials.js'

t.test('usernames are case-mapped and NFC (RFC 8265 UsernameCaseMapped)', async (t) => {
  t.equal(normaliseUsername('Alice'), 'alice')
  t.equal(normaliseUsername('A\u030alice'), '\u00e5lice', 'decomposed Å meets the composed form')
  t.equal(normaliseUsername('\u00c5LICE'), '\u00e5lice')
  t.equal(normaliseUsername(''), undefined)
  t.equal(normaliseUsername('two words'), undefined)
  t.equal(normaliseUsername('tab\there'), undefined)
  t.equal(normaliseUsername('zero\u200bwidth'), undefined, 'invisible format characters')
  t.equal(normaliseUsername('x'.repeat(129)), undefined)
})

t.test('passwords are NFC with non-ASCII spaces mapped (RFC 8265 OpaqueString)', async (t) => {
  t.equal(normalisePassword('cafe\u0301'), 'caf\u00e9')
  t.equal(normalisePassword('a\u00a0b'), 'a b')
  t.equal(normalisePassword('Case Stays'), 'Case Stays')
})

t.test(
  'a new password must be 8 characters to 1024 bytes, without control characters',
  async (t) => {
    t.equal(checkNewPassword('😀😀😀😀😀😀😀😀'),
      '😀😀😀😀😀😀😀😀',
      'characters, not bytes or UTF-16 units')
    t.throws(() => checkNewPassword('short'), { code: 'FTI_CREDENTIAL_POLICY' })
    t.throws(() => checkNewPassword('a'.repeat(1025)), { message: /1024 bytes/ })
    t.throws(() => checkNewPassword('é'.repeat(513)), { message: /1024 bytes/ },
      'counted in UTF-8 bytes')
    t.throws(() => checkNewPassword('long enough\u0007'), { message: /control/ })
  }
)
