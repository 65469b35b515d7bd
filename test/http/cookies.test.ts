import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readCookie } from '../../src/http/cookies.js';

const JWT = 'eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln';

describe('readCookie', () => {
  it('returns undefined without a Cookie header', () => {
    assert.equal(readCookie(undefined, 'ecamo_token'), undefined);
  });

  it('finds the cookie among others, in any position', () => {
    assert.equal(readCookie(`ecamo_token=${JWT}`, 'ecamo_token'), JWT);
    assert.equal(readCookie(`a=1; ecamo_token=${JWT}; b=2`, 'ecamo_token'), JWT);
    assert.equal(readCookie(`a=1; b=2; ecamo_token=${JWT}`, 'ecamo_token'), JWT);
    assert.equal(readCookie(`__Host-ecamo_token=${JWT}`, '__Host-ecamo_token'), JWT);
  });

  it('returns undefined when the cookie is not there', () => {
    assert.equal(readCookie('', 'ecamo_token'), undefined);
    assert.equal(readCookie('a=1; b=2', 'ecamo_token'), undefined);
  });

  it('matches the whole name, case-sensitively', () => {
    assert.equal(readCookie('ecamo_token2=x; xecamo_token=y', 'ecamo_token'), undefined);
    assert.equal(readCookie('ECAMO_TOKEN=x', 'ecamo_token'), undefined);
    assert.equal(readCookie('ecamo_token=x', '__Host-ecamo_token'), undefined);
    assert.equal(readCookie('__Host-ecamo_token=x', 'ecamo_token'), undefined);
  });

  it('returns the first of repeated cookies (browsers send the most specific first)', () => {
    assert.equal(readCookie('ecamo_token=first; ecamo_token=second', 'ecamo_token'), 'first');
  });

  it('trims whitespace around names and values', () => {
    assert.equal(readCookie(`a=1;ecamo_token=${JWT}`, 'ecamo_token'), JWT);
    assert.equal(readCookie(`a=1 ;  ecamo_token = ${JWT}  ; b=2`, 'ecamo_token'), JWT);
  });

  it('keeps = inside the value', () => {
    assert.equal(readCookie('ecamo_token=a=b==', 'ecamo_token'), 'a=b==');
  });

  it('removes the double quotes of a quoted value', () => {
    assert.equal(readCookie(`ecamo_token="${JWT}"`, 'ecamo_token'), JWT);
    assert.equal(readCookie('ecamo_token="', 'ecamo_token'), '"');
  });

  it('skips pairs without =', () => {
    assert.equal(readCookie(`ecamo_token; flag; ecamo_token=${JWT}`, 'ecamo_token'), JWT);
    assert.equal(readCookie('ecamo_token', 'ecamo_token'), undefined);
  });
});
