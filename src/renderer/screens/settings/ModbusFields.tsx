import { useTranslation } from 'react-i18next';
import { DEFAULT_MAX_DEVICES, type Esp32Modbus } from '../../../shared/esp32-modbus.js';
import { MODBUS_FUNCTIONS, MODBUS_PARITIES, type PiModbus } from '../../../shared/pi-agent.js';
import { CheckboxField, type FieldErrors, num, SelectField, TextField, useIssueText } from '../../components/form.js';

/**
 * The Modbus RTU readings of a profile, one form for both gateway kinds: the Pi agent's
 * (`pi.modbus`: its serial device and data bits too) and the ESP32 firmware's (`esp32.modbus`: the
 * board's RS-485 UART, plus the devices-per-gateway limit). Fields hold the text as typed; the
 * shared schemas check it.
 */

type Kind = 'pi' | 'esp32';
type Parity = (typeof MODBUS_PARITIES)[number];
type RegisterFunction = (typeof MODBUS_FUNCTIONS)[number];
type Count = '1' | '2';

interface SlaveDraft {
  slave: string;
  register: string;
  unit: string;
  scale: string;
  interval: string;
  fn: RegisterFunction;
  count: Count;
  signed: boolean;
}

export interface ModbusDraft {
  on: boolean;
  /** Pi only. */
  port: string;
  baudrate: string;
  parity: Parity;
  /** Pi only. */
  bytesize: string;
  stopbits: string;
  timeout: string;
  /** ESP32 only: the seed's qte_max_dispositivos. */
  maxDevices: string;
  slaves: SlaveDraft[];
}

const NEW_SLAVE: SlaveDraft = { slave: '1', register: '0', unit: '', scale: '1', interval: '60', fn: 'holding', count: '1', signed: false };

export function modbusDraft(m: PiModbus | Esp32Modbus | undefined, kind: Kind): ModbusDraft {
  return {
    on: !!m,
    port: m && 'port' in m ? m.port : '/dev/ttyUSB0',
    baudrate: String(m?.baudrate ?? 9600),
    parity: m?.parity ?? 'N',
    bytesize: String(m && 'bytesize' in m ? m.bytesize : 8),
    stopbits: String(m?.stopbits ?? 1),
    timeout: String(m?.timeout_s ?? (kind === 'pi' ? 1 : 0.3)),
    maxDevices: String(m && 'maxDevices' in m ? m.maxDevices : DEFAULT_MAX_DEVICES),
    slaves: (m?.slaves ?? []).map((s) => ({
      slave: String(s.slave),
      register: String(s.register),
      unit: s.unit,
      scale: String(s.scale),
      interval: String(s.interval),
      fn: s.function,
      count: String(s.count) as Count,
      signed: s.signed,
    })),
  };
}

/** The `modbus` object of a profile request for this draft (checked by ProfileInputSchema), or nothing when off. */
export function modbusRequest(d: ModbusDraft, kind: Kind): { modbus?: Record<string, unknown> } {
  if (!d.on) return {};
  const slaves = d.slaves.map((s) => ({
    slave: num(s.slave),
    register: num(s.register),
    unit: s.unit,
    scale: num(s.scale),
    interval: num(s.interval),
    function: s.fn,
    count: num(s.count),
    signed: s.signed,
  })) satisfies Array<Partial<Record<keyof PiModbus['slaves'][number], unknown>>>;
  const common = { baudrate: num(d.baudrate), parity: d.parity, stopbits: num(d.stopbits), timeout_s: num(d.timeout), slaves };
  return { modbus: kind === 'pi' ? { ...common, port: d.port, bytesize: num(d.bytesize) } : { ...common, maxDevices: num(d.maxDevices) } };
}

/** The fieldset: serial settings, then one group per reading with add/remove. */
export function ModbusFields({ kind, value: d, onChange, errors }: { kind: Kind; value: ModbusDraft; onChange: (d: ModbusDraft) => void; errors: FieldErrors }) {
  const { t } = useTranslation('settings');
  const issueText = useIssueText();
  const set = <K extends keyof ModbusDraft>(k: K) => (v: ModbusDraft[K]) => onChange({ ...d, [k]: v });
  const setSlave = (i: number, patch: Partial<SlaveDraft>) => onChange({ ...d, slaves: d.slaves.map((s, j) => (j === i ? { ...s, ...patch } : s)) });
  const name = (field: string) => `${kind}.modbus.${field}`;
  const e = (field: string) => errors[name(field)];
  const listError = issueText(e('slaves'));
  return (
    <fieldset data-testid={`${kind}-modbus`}>
      <legend>{t('profiles.modbus')}</legend>
      <CheckboxField name={`${kind}.modbusEnabled`} label={t(kind === 'pi' ? 'profiles.modbusEnabled' : 'profiles.modbusEnabledEsp32')} checked={d.on} onChange={set('on')} />
      {d.on && (
        <>
          <div className="form-grid">
            {kind === 'pi' && <TextField name={name('port')} label={t('profiles.modbusPort')} value={d.port} onChange={set('port')} error={e('port')} placeholder="/dev/ttyUSB0" />}
            <TextField name={name('baudrate')} label={t('profiles.modbusBaud')} value={d.baudrate} onChange={set('baudrate')} error={e('baudrate')} inputMode="numeric" />
            <SelectField<Parity>
              name={name('parity')}
              label={t('profiles.modbusParity')}
              value={d.parity}
              onChange={set('parity')}
              options={MODBUS_PARITIES.map((p) => ({ value: p, label: t(`profiles.parities.${p}`) }))}
              error={e('parity')}
            />
            {kind === 'pi' && <TextField name={name('bytesize')} label={t('profiles.modbusBytesize')} value={d.bytesize} onChange={set('bytesize')} error={e('bytesize')} inputMode="numeric" />}
            <TextField name={name('stopbits')} label={t('profiles.modbusStopbits')} value={d.stopbits} onChange={set('stopbits')} error={e('stopbits')} inputMode="numeric" />
            <TextField name={name('timeout_s')} label={t('profiles.modbusTimeout')} value={d.timeout} onChange={set('timeout')} error={e('timeout_s')} />
            {kind === 'esp32' && (
              <TextField name={name('maxDevices')} label={t('profiles.maxDevices')} hint={t('profiles.maxDevicesHint')} value={d.maxDevices} onChange={set('maxDevices')} error={e('maxDevices')} inputMode="numeric" />
            )}
          </div>
          <h4>{t('profiles.slaves')}</h4>
          {d.slaves.length === 0 && <p className="muted">{t('profiles.noSlaves')}</p>}
          {listError && (
            <p className="field__error" role="alert" tabIndex={-1} data-field={name('slaves')}>
              {listError}
            </p>
          )}
          {d.slaves.map((s, i) => {
            const f = (k: string) => e(`slaves.${i}.${k}`);
            const n = i + 1;
            return (
              <fieldset key={i} data-testid="modbus-slave">
                <legend>{t('profiles.slaveN', { n })}</legend>
                <div className="form-grid">
                  <TextField name={name(`slaves.${i}.slave`)} label={t('profiles.slaveId')} value={s.slave} onChange={(v) => setSlave(i, { slave: v })} error={f('slave')} inputMode="numeric" />
                  <TextField name={name(`slaves.${i}.register`)} label={t('profiles.register')} value={s.register} onChange={(v) => setSlave(i, { register: v })} error={f('register')} inputMode="numeric" />
                  <SelectField<RegisterFunction>
                    name={name(`slaves.${i}.function`)}
                    label={t('profiles.function')}
                    value={s.fn}
                    onChange={(v) => setSlave(i, { fn: v })}
                    options={MODBUS_FUNCTIONS.map((x) => ({ value: x, label: t(`profiles.functions.${x}`) }))}
                    error={f('function')}
                  />
                  <SelectField<Count>
                    name={name(`slaves.${i}.count`)}
                    label={t('profiles.count')}
                    value={s.count}
                    onChange={(v) => setSlave(i, { count: v })}
                    options={(['1', '2'] as const).map((x) => ({ value: x, label: t(`profiles.counts.${x}`) }))}
                    error={f('count')}
                  />
                  <TextField name={name(`slaves.${i}.scale`)} label={t('profiles.scale')} value={s.scale} onChange={(v) => setSlave(i, { scale: v })} error={f('scale')} />
                  <TextField name={name(`slaves.${i}.unit`)} label={t('profiles.unit')} value={s.unit} onChange={(v) => setSlave(i, { unit: v })} error={f('unit')} placeholder="°C" />
                  <TextField name={name(`slaves.${i}.interval`)} label={t('profiles.interval')} value={s.interval} onChange={(v) => setSlave(i, { interval: v })} error={f('interval')} />
                  <CheckboxField name={name(`slaves.${i}.signed`)} label={t('profiles.signed')} checked={s.signed} onChange={(v) => setSlave(i, { signed: v })} />
                </div>
                <button type="button" className="btn" onClick={() => onChange({ ...d, slaves: d.slaves.filter((_, j) => j !== i) })}>
                  {t('profiles.removeSlave', { n })}
                </button>
              </fieldset>
            );
          })}
          <button type="button" className="btn" onClick={() => onChange({ ...d, slaves: [...d.slaves, { ...NEW_SLAVE }] })}>
            {t('profiles.addSlave')}
          </button>
        </>
      )}
    </fieldset>
  );
}
