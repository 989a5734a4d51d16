import { join } from 'node:path'
import t from 'tap'
import { addPerson, buildHostApp } from '../../examples/host-app.js'
import { FORM, decodeJwt, form } from '../helper.js'

t.test('the host app example issues tokens for its own users and protects its route', async (t) => {
  await addPerson('grace', 'cobol-1959', ['admiral'])
  const app = await buildHostApp({
    issuer: 'http://127.0.0.1:5000/auth',
    databaseUrl: `sqlite:${join(t.testdir(), 'host.db')}`
  })
  t.teardown(async () => { await app.close() })

  const login = async (password: string) => await app.inject({
    method: 'POST',
    url: '/auth/token',
    headers: FORM,
    payload: form({ grant_type: 'password', username: 'Grace', password })
  })
  t.equal((await login('fortran')).json().error, 'invalid_grant')
  t.equal((await app.inject({ url: '/profile' })).statusCode, 401)

  const issued = await login('cobol-1959')
  t.equal(issued.statusCode, 200)
  const token = issued.json().access_token
  t.match(decodeJwt(token).payload, { sub: 'person-1', roles: ['admiral'] })

  const authorization = `Bearer ${token}`
  const profile = await app.inject({ url: '/profile', headers: { authorization } })
  t.same(profile.json(), { subject: 'person-1', roles: ['admiral'] })
})
