import { useTranslation } from 'react-i18next';
import type { ProfileView } from '../../../shared/profile.js';
import { DEFAULT_PI_PYTHON } from '../../../shared/pi-agent.js';
import { CheckboxField, type FieldErrors, num, TextField } from '../../components/form.js';
import { ModbusFields, modbusDraft, modbusRequest, type ModbusDraft } from './ModbusFields.js';

/** What the form holds for the Pi agent (strings as typed; the shared schema checks them). */
export interface PiAgentDraft {
  python: string;
  modbus: ModbusDraft;
  agentOn: boolean;
  keepalive: string;
  bufferMax: string;
  renewBefore: string;
}

export function piAgentDraft(pi: ProfileView['pi'] | undefined): PiAgentDraft {
  const a = pi?.agent;
  return {
    python: pi?.python ?? DEFAULT_PI_PYTHON,
    modbus: modbusDraft(pi?.modbus, 'pi'),
    agentOn: !!a,
    keepalive: String(a?.keepaliveSec ?? 30),
    bufferMax: String(a?.bufferMaxMessages ?? 10_000),
    renewBefore: String(a?.renewBeforeDays ?? 30),
  };
}

/** The `pi` fields of a profile request for this draft (checked by ProfileInputSchema). */
export function piAgentRequest(d: PiAgentDraft): Record<string, unknown> {
  return {
    python: d.python,
    ...modbusRequest(d.modbus, 'pi'),
    ...(d.agentOn ? { agent: { keepaliveSec: num(d.keepalive), bufferMaxMessages: num(d.bufferMax), renewBeforeDays: num(d.renewBefore) } } : {}),
  };
}

/** Python path, Modbus RTU readings and agent settings of a Pi profile. */
export function PiAgentFields({ value: d, onChange, errors }: { value: PiAgentDraft; onChange: (d: PiAgentDraft) => void; errors: FieldErrors }) {
  const { t } = useTranslation('settings');
  const set = <K extends keyof PiAgentDraft>(k: K) => (v: PiAgentDraft[K]) => onChange({ ...d, [k]: v });
  const e = (field: string) => errors[`pi.${field}`];
  return (
    <>
      <div className="form-grid">
        <TextField name="pi.python" label={t('profiles.python')} hint={t('profiles.pythonHint')} value={d.python} onChange={set('python')} error={e('python')} />
      </div>
      <ModbusFields kind="pi" value={d.modbus} onChange={set('modbus')} errors={errors} />
      <fieldset>
        <legend>{t('profiles.agent')}</legend>
        <CheckboxField name="pi.agentEnabled" label={t('profiles.agentEnabled')} checked={d.agentOn} onChange={set('agentOn')} />
        {d.agentOn && (
          <div className="form-grid">
            <TextField name="pi.agent.keepaliveSec" label={t('profiles.keepalive')} hint={t('profiles.keepaliveHint')} value={d.keepalive} onChange={set('keepalive')} error={e('agent.keepaliveSec')} inputMode="numeric" />
            <TextField name="pi.agent.bufferMaxMessages" label={t('profiles.bufferMax')} value={d.bufferMax} onChange={set('bufferMax')} error={e('agent.bufferMaxMessages')} inputMode="numeric" />
            <TextField name="pi.agent.renewBeforeDays" label={t('profiles.renewBefore')} hint={t('profiles.renewBeforeHint')} value={d.renewBefore} onChange={set('renewBefore')} error={e('agent.renewBeforeDays')} inputMode="numeric" />
          </div>
        )}
      </fieldset>
    </>
  );
}
