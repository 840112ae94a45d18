import { describe, expect, it } from 'vitest';
import { User } from 'oidc-client-ts';
import { isCallbackUrl, operatorOf, withoutOidcParams } from './auth';

describe('sign-in callback URLs', () => {
  it('are recognised by their state parameter', () => {
    expect(isCallbackUrl('?code=abc&state=xyz&iss=http%3A%2F%2F127.0.0.1%3A9400')).toBe(true);
    expect(isCallbackUrl('?error=access_denied&state=xyz')).toBe(true);
    expect(isCallbackUrl('?state=xyz')).toBe(true); // back from sign-out
    expect(isCallbackUrl('?lang=zh')).toBe(false);
    expect(isCallbackUrl('')).toBe(false);
  });
  it('lose their one-time parameters, keep the app parameters', () => {
    expect(withoutOidcParams('?code=abc&state=xyz&iss=x&lang=zh')).toBe('?lang=zh');
    expect(withoutOidcParams('?error=access_denied&error_description=no&state=s')).toBe('');
  });
});

describe('operatorOf', () => {
  const user = (over: Partial<ConstructorParameters<typeof User>[0]> = {}) =>
    new User({
      access_token: 'at',
      token_type: 'Bearer',
      profile: { sub: 's-1', iss: 'http://issuer', aud: 'web', exp: 0, iat: 0, email: 'op@example.com' },
      expires_at: Math.floor(Date.now() / 1000) + 600,
      ...over,
    });
  it('shows the operator by name, else email, else subject', () => {
    expect(operatorOf(user())?.name).toBe('op@example.com');
    const named = user({ profile: { sub: 's', iss: 'i', aud: 'a', exp: 0, iat: 0, name: 'Dev Operator' } });
    expect(operatorOf(named)?.name).toBe('Dev Operator');
    expect(operatorOf(user({ profile: { sub: 's-2', iss: 'i', aud: 'a', exp: 0, iat: 0 } }))?.name).toBe('s-2');
  });
  it('treats an expired token as signed out', () => {
    expect(operatorOf(user({ expires_at: Math.floor(Date.now() / 1000) - 1 }))).toBeNull();
    expect(operatorOf(null)).toBeNull();
    expect(operatorOf(user())?.accessToken).toBe('at');
  });
});
