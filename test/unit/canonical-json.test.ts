import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { canonicalJson, sha256Hex } from '../../src/util/canonical-json.js';

describe('canonicalJson', () => {
  it('sorts object keys, so key order does not change the text', () => {
    const a = { b: 1, a: 2, c: { z: true, y: null } };
    const b = { c: { y: null, z: true }, a: 2, b: 1 };
    expect(canonicalJson(a)).toBe('{"a":2,"b":1,"c":{"y":null,"z":true}}');
    expect(canonicalJson(b)).toBe(canonicalJson(a));
  });

  it('writes no whitespace', () => {
    expect(canonicalJson({ list: [1, 2, { k: 'v w' }] })).toBe('{"list":[1,2,{"k":"v w"}]}');
  });

  it('keeps array order and sorts objects nested inside arrays and arrays inside objects', () => {
    const value = { outer: [{ d: 4, c: 3 }, [{ f: 6, e: 5 }], 'x'], a: [] };
    expect(canonicalJson(value)).toBe('{"a":[],"outer":[{"c":3,"d":4},[{"e":5,"f":6}],"x"]}');
    // Array order is significant: a reordered array is a different document.
    expect(canonicalJson([1, 2])).not.toBe(canonicalJson([2, 1]));
  });

  it('drops object members whose value is undefined, like JSON.stringify', () => {
    expect(canonicalJson({ a: undefined, b: 1, nested: { c: undefined } })).toBe(
      '{"b":1,"nested":{}}',
    );
    expect(canonicalJson({ a: undefined, b: 1 })).toBe(canonicalJson({ b: 1 }));
  });

  it('writes undefined array elements as null, like JSON.stringify', () => {
    expect(canonicalJson([1, undefined, 3])).toBe('[1,null,3]');
  });

  it('keeps null members (null is a value, not an absence)', () => {
    expect(canonicalJson({ a: null })).toBe('{"a":null}');
    expect(canonicalJson({ a: null })).not.toBe(canonicalJson({}));
  });

  it('writes scalars as JSON', () => {
    expect(canonicalJson('a"b\n')).toBe(JSON.stringify('a"b\n'));
    expect(canonicalJson(1.5)).toBe('1.5');
    expect(canonicalJson(false)).toBe('false');
    expect(canonicalJson(null)).toBe('null');
  });

  it('escapes keys and sorts them by UTF-16 code unit', () => {
    const value = { é: 1, z: 2, 'a"b': 3, Z: 4 };
    expect(canonicalJson(value)).toBe('{"Z":4,"a\\"b":3,"z":2,"é":1}');
  });

  it('produces valid JSON that parses back to an equal value', () => {
    const value = { z: [1, { y: 'two', x: [true, null] }], a: { b: { c: 'd' } } };
    expect(JSON.parse(canonicalJson(value))).toEqual(value);
  });

  it('distinguishes a string from a number and a nested value from a flat one', () => {
    expect(canonicalJson({ a: '1' })).not.toBe(canonicalJson({ a: 1 }));
    expect(canonicalJson({ a: { b: 1 } })).not.toBe(canonicalJson({ 'a.b': 1 }));
  });
});

describe('sha256Hex', () => {
  it('matches the standard test vectors', () => {
    expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(sha256Hex('abc')).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });

  it('hashes the UTF-8 bytes of the text, as createHash does', () => {
    const text = '{"name":"résumé ✓ 𝄞"}';
    expect(sha256Hex(text)).toBe(createHash('sha256').update(text, 'utf8').digest('hex'));
  });

  it('gives the same digest for the same document in any key order', () => {
    const one = sha256Hex(canonicalJson({ path: '/tmp', mode: 'r' }));
    const two = sha256Hex(canonicalJson({ mode: 'r', path: '/tmp' }));
    expect(one).toBe(two);
    expect(one).toMatch(/^[0-9a-f]{64}$/);
    expect(sha256Hex(canonicalJson({ mode: 'w', path: '/tmp' }))).not.toBe(one);
  });
});
