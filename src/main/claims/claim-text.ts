import { shortFingerprint, type ClaimPreviewView, type ClaimRefusal } from '../../shared/claims.js';
import { safeLine } from '../log/safe-text.js';

/**
 * The claim desk's answers in words for a terminal (`tds-station claim`); the Claim screen has the
 * same sentences in its dictionaries. Text the device sent (model, firmware) is escaped: it could hold
 * terminal control sequences.
 */

export function refusalText(r: ClaimRefusal, mac: string): string {
  const tries = (n: number | undefined): string => `${n ?? 0} ${n === 1 ? 'try' : 'tries'} left before this token is locked out for 15 minutes`;
  switch (r.reason) {
    case 'wrong-secret':
      return `the claim secret does not match ${mac}: check that the label belongs to this device (${tries(r.attemptsLeft)})`;
    case 'wrong-code':
      return `no request of ${mac} has this code: check the code on the device's screen and the MAC on its housing (${tries(r.attemptsLeft)})`;
    case 'locked-out':
      return `too many wrong codes or claim secrets from this token: claiming is locked for ${Math.ceil((r.retryAfterSeconds ?? 900) / 60)} min more`;
    case 'label-used':
      return 'this label was already used to claim the device (a claim secret works once); to onboard it again, give it a new birth identity at the bench';
    case 'not-asked':
      return 'the device has not asked to join yet: power it on with network access, wait a minute, then try again';
    case 'request-changed':
      return 'the device made a new request since the preview: run the command again and compare the fingerprint';
    case 'mac-unavailable':
      return `this account cannot claim ${mac}: ${r.message}`;
    case 'refused':
      return `the server refused: ${r.message}`;
  }
}

export function previewLines(p: ClaimPreviewView): string[] {
  return [
    'Device asking to join:',
    `  MAC          ${p.mac}`,
    `  how          ${p.path === 'attested' ? `bench-born, proved its birth identity (birth certificate ${p.birthSerial ?? '?'})` : 'open enrolment (activation code)'}`,
    `  model        ${safeLine(p.model ?? '-')}`,
    `  firmware     ${safeLine(p.firmwareVersion ?? '-')}`,
    `  key          ${p.keyType}, fingerprint ${shortFingerprint(p.keyFingerprint)} (compare with what the device shows)`,
    `  asked at     ${p.requestedAt} from ${p.sourceIp ?? 'an unknown address'}`,
    `  expires at   ${p.expiresAt}`,
    ...(p.problem ? [`  problem      ${p.problem}`] : []),
  ];
}
