// Errors of a guest channel.  A ChannelFault is the guest's own fault (a
// broken layout, an impossible index, a lying length): it closes that guest's
// channel and nothing else.  Codes are stable, for operators and tests.
export const FAULT_CODES = [
  'bad_magic',
  'bad_version',
  'bad_layout',
  'bad_hello',
  'bad_index',
  'bad_record',
  'response_overflow',
  'handover_failed',
  'bad_offer',
  'bad_grant',
  'bad_event_channel',
] as const;
export type FaultCode = (typeof FAULT_CODES)[number];

export class ChannelFault extends Error {
  constructor(readonly code: FaultCode, message: string) {
    super(message);
    this.name = 'ChannelFault';
  }
}
