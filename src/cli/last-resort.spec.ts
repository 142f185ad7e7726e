import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../log.js';
import { installLastResort } from './last-resort.js';

describe('the last-resort handler of overair serve', () => {
  // A stand-in for `process`: emitting on the real one would reach the test runner's own handlers.
  const install = () => {
    const exits: number[] = [];
    const target = new EventEmitter();
    installLastResort(createLogger('silent'), (code) => exits.push(code), target);
    return { exits, target };
  };

  it('survives a database connection lost outside any query', () => {
    const { exits, target } = install();
    // What pg emits for a checked-out client whose server went away.
    target.emit('uncaughtException', new Error('Connection terminated unexpectedly'));
    target.emit('unhandledRejection', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
    expect(exits).toEqual([]);
  });

  it('exits with 1 on anything else, for the supervisor to restart a clean process', () => {
    const { exits, target } = install();
    target.emit('uncaughtException', new TypeError('x is not a function'));
    target.emit('unhandledRejection', new Error('a bug'));
    expect(exits).toEqual([1, 1]);
  });
});
