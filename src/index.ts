export { default, type TokenIssuerOptions } from '../plugins/token-issuer.js'
export type { SigningAlgorithm, Settings } from './config.js'
export type { AccessTokenResponse, TokenClaims } from './tokens.js'
export type { PublicJwk, KeySet, ActiveKey } from './keys.js'
export {
  ConfigError,
  CredentialPolicyError,
  InvalidClaimsError,
  InvalidGrantError,
  InvalidRequestError,
  UnsupportedGrantTypeError
} from './errors.js'
