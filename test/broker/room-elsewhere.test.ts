import { beforeEach, describe, expect, it } from 'vitest';
import { ROOM_ELSEWHERE_HELD_MS, RoomElsewhere } from '../../src/broker/room-elsewhere.js';

describe('RoomElsewhere', () => {
  let now: number;
  let room: RoomElsewhere;

  beforeEach(() => {
    now = 1_000;
    room = new RoomElsewhere(() => now);
  });

  it('holds a word for every tenant but those it leaves out, until it lapses', () => {
    room.heard({ from: 'b', except: ['capped'] });
    expect(room.heldFor('acme')).toBe(ROOM_ELSEWHERE_HELD_MS);
    expect(room.heldFor('capped')).toBe(0);
    now += ROOM_ELSEWHERE_HELD_MS - 100;
    expect(room.heldFor('acme')).toBe(100);
    now += 100;
    expect(room.heldFor('acme')).toBe(0);
  });

  it("keeps each broker's word: a tenant one leaves out is held by another's", () => {
    room.heard({ from: 'b', except: ['capped'] });
    now += 500;
    room.heard({ from: 'c', tenants: ['capped', 'dedicated'] });
    expect(room.heldFor('capped')).toBe(ROOM_ELSEWHERE_HELD_MS);
    expect(room.heldFor('acme')).toBe(ROOM_ELSEWHERE_HELD_MS - 500);
    // b's later word replaces its earlier one: now it takes 'capped' too
    room.heard({ from: 'b' });
    expect(room.heldFor('acme')).toBe(ROOM_ELSEWHERE_HELD_MS);
    now += ROOM_ELSEWHERE_HELD_MS;
    expect(room.heldFor('dedicated')).toBe(0);
  });

  it('holds a word of dedicated workers for their tenants only, less those left out', () => {
    room.heard({ from: 'b', tenants: ['one', 'two'], except: ['two'] });
    expect(room.heldFor('one')).toBe(ROOM_ELSEWHERE_HELD_MS);
    expect(room.heldFor('two')).toBe(0);
    expect(room.heldFor('three')).toBe(0);
  });
});
