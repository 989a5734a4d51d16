export { default } from '../plugins/token-issuer.js'
export type { IssueAccessTokenOptions } from '../plugins/token-issuer.js'
export { tokenVerifier, type TokenVerifierOptions } from '../plugins/token-verifier.js'
export type {
  ClaimsContext, ClaimsHook, TokenIssuerOptions, VerifiedCredentials, VerifyCredentials
} from './options.js'
export type { SigningAlgorithm } from './config.js'
export type { TokenResponse } from './grants.js'
export type { AccessTokenResponse, TokenClaims } from './tokens.js'
export type { AccessTokenClaims } from './verify.js'
export type { PublicJwk } from './keys.js'
export {
  ConfigError,
  CredentialPolicyError,
  InvalidClaimsError,
  InvalidClientError,
  InvalidGrantError,
  InvalidRequestError,
  InvalidScopeError,
  InvalidTokenError,
  UnauthorizedClientError,
  UnsupportedGrantTypeError
} from './errors.js'
