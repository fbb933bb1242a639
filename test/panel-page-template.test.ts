import assert from 'node:assert/strict';
import { test } from 'node:test';
import { h } from 'preact';
import { PageTemplate, renderDocument } from '../src/panel/render.js';

/**
 * A page rendered once and then filled in (the sign-in with a passkey alone) must be, byte for
 * byte, the page a whole render would have made: the same escaping of what is filled in, and a
 * new render when anything else changes.
 */
const page = (title: string, token: string, challenge: string) =>
  h(
    'main',
    null,
    h('h1', null, title),
    h(
      'form',
      { method: 'post', 'data-options': JSON.stringify({ challenge, timeout: 1 }) },
      h('input', { type: 'hidden', name: '_csrf', value: token }),
      h('p', null, `Token: ${token}`),
    ),
  );

const fill = (
  template: PageTemplate<'token' | 'challenge'>,
  title: string,
  token: string,
  challenge: string,
) =>
  template.fill(title, { token, challenge: JSON.stringify(challenge).slice(1, -1) }, (marker) =>
    page(title, marker('token'), marker('challenge')),
  );

test('a page filled from its template is the page rendered whole, with its values escaped alike', () => {
  const template = new PageTemplate<'token' | 'challenge'>();
  for (const [token, challenge] of [
    ['plain-token_1', 'KPg1EA2kwuf8BNqrPVD6NSGsQoo99Wmf28hwT8Gbkn8'],
    [`a"b&c<d>e'f`, `x"y\\z</p>&amp;`],
  ] as const)
    assert.equal(
      fill(template, 'Log in', token, challenge),
      renderDocument(page('Log in', token, challenge)),
    );
  // Anything else the page is made from is its shape: another shape is rendered anew.
  assert.equal(fill(template, 'Sign in', 't', 'c'), renderDocument(page('Sign in', 't', 'c')));
});
