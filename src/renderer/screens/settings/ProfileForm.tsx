import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { z } from 'zod';
import { KEY_TYPES, type KeyType } from '@tds/server/contract';
import { DEFAULT_CODE_TEMPLATE, DEFAULT_NAME_TEMPLATE, KEY_MODES, MAX_BAUD_CHOICES, ProfileEsp32Schema, ProfileInputSchema, type ProfileView, RESET_MODES, SERVICE_MANAGERS } from '../../../shared/profile.js';
import type { BundleInfo } from '../../../shared/views.js';
import { useStation } from '../../app/context.js';
import { useSettings } from '../../app/settings-context.js';
import { ErrorNotice } from '../../components/ErrorNotice.js';
import { CheckboxField, FormSummary, num, SelectField, TextField, useFieldErrors } from '../../components/form.js';
import { ModbusFields, modbusDraft, modbusRequest } from './ModbusFields.js';
import { PiAgentFields, piAgentDraft, piAgentRequest } from './PiAgentFields.js';

const BundleCheck = z.object({ esp32: z.object({ bundlePath: ProfileEsp32Schema.shape.bundlePath }) });
const BrokerCheck = ProfileInputSchema.pick({ brokerHost: true, brokerPort: true });

type KeyMode = (typeof KEY_MODES)[number];
type ResetMode = (typeof RESET_MODES)[number];
type ServiceManager = (typeof SERVICE_MANAGERS)[number];

/** Create or edit one profile; the Wi-Fi password is write-only (the core keeps it in the secret store). */
export function ProfileForm({ profile, onSaved, onCancel }: { profile: ProfileView | null; onSaved: (p: ProfileView) => void; onCancel: () => void }) {
  const { t } = useTranslation('settings');
  const { t: tc } = useTranslation();
  const client = useStation();
  const { settings } = useSettings();
  const [f, setF] = useState(() => ({
    name: profile?.name ?? '',
    accountId: String(profile?.accountId ?? settings.server.accountId ?? 1),
    codeTemplate: profile?.codeTemplate ?? DEFAULT_CODE_TEMPLATE,
    nameTemplate: profile?.nameTemplate ?? DEFAULT_NAME_TEMPLATE,
    brokerHost: profile?.brokerHost ?? settings.broker.deviceHost,
    brokerPort: String(profile?.brokerPort ?? settings.broker.port),
    validityDays: profile?.validityDays ? String(profile.validityDays) : '',
    bundlePath: profile?.esp32?.bundlePath ?? '',
    wifiSsid: profile?.esp32?.wifiSsid ?? '',
    wifiPassword: '',
    /** '' = automatic: the station picks the rate per USB bridge. */
    maxBaud: profile?.esp32?.maxBaud !== undefined ? String(profile.esp32.maxBaud) : '',
    onlineTimeoutSec: String(profile?.esp32?.onlineTimeoutSec ?? 60),
    installPrefix: profile?.pi?.installPrefix ?? '/',
    piOnlineTimeoutSec: String(profile?.pi?.onlineTimeoutSec ?? 60),
  }));
  const [keyType, setKeyType] = useState<KeyType>(profile?.keyType ?? 'ec');
  const [keyMode, setKeyMode] = useState<KeyMode>(profile?.keyMode ?? 'station');
  const [resetMode, setResetMode] = useState<ResetMode>(profile?.esp32?.resetMode ?? 'auto');
  const [serviceManager, setServiceManager] = useState<ServiceManager>(profile?.pi?.serviceManager ?? 'systemd');
  const [esp32On, setEsp32On] = useState(profile ? !!profile.esp32 : true);
  const [piOn, setPiOn] = useState(profile ? !!profile.pi : true);
  const [piAgent, setPiAgent] = useState(() => piAgentDraft(profile?.pi));
  const [espModbus, setEspModbus] = useState(() => modbusDraft(profile?.esp32?.modbus, 'esp32'));
  const [wifiOpen, setWifiOpen] = useState(profile?.esp32?.wifiOpen ?? false);
  const [birthIdentity, setBirthIdentity] = useState(!!profile?.esp32?.birthIdentity);
  const [brokerStatus, setBrokerStatus] = useState('');
  const [bundle, setBundle] = useState<BundleInfo>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const { errors, check, fromError, hasErrors } = useFieldErrors('profile-form');
  const set = (k: keyof typeof f) => (v: string) => setF((x) => ({ ...x, [k]: v }));

  const draft = () => ({
    name: f.name,
    accountId: num(f.accountId),
    codeTemplate: f.codeTemplate,
    nameTemplate: f.nameTemplate,
    brokerHost: f.brokerHost,
    brokerPort: num(f.brokerPort),
    keyType,
    keyMode,
    ...(f.validityDays.trim() ? { validityDays: num(f.validityDays) } : {}),
    ...(esp32On
      ? {
          esp32: {
            bundlePath: f.bundlePath,
            wifiSsid: f.wifiSsid,
            ...(wifiOpen ? { wifiOpen: true, wifiPassword: '' } : f.wifiPassword ? { wifiPassword: f.wifiPassword } : {}),
            ...(f.maxBaud ? { maxBaud: num(f.maxBaud) } : {}),
            resetMode,
            onlineTimeoutSec: num(f.onlineTimeoutSec),
            ...(birthIdentity ? { birthIdentity: true } : {}),
            ...modbusRequest(espModbus, 'esp32'),
          },
        }
      : {}),
    ...(piOn ? { pi: { installPrefix: f.installPrefix, serviceManager, onlineTimeoutSec: num(f.piOnlineTimeoutSec), ...piAgentRequest(piAgent) } } : {}),
  });

  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    setError(undefined);
    const p = check(ProfileInputSchema, draft());
    if (!p) return;
    setBusy(true);
    try {
      onSaved(await client.invoke('profiles.save', { profile: p, ...(profile ? { previousName: profile.name } : {}) }));
    } catch (err) {
      if (!fromError(err, 'profile.')) setError(err);
    } finally {
      setBusy(false);
    }
  };
  const checkBundle = async (): Promise<void> => {
    setBundle(undefined);
    setError(undefined);
    if (!check(BundleCheck, { esp32: { bundlePath: f.bundlePath } })) return;
    try {
      setBundle(await client.invoke('bundles.inspect', { path: f.bundlePath }));
    } catch (err) {
      setError(err);
    }
  };
  const testBroker = async (): Promise<void> => {
    setBrokerStatus('');
    setError(undefined);
    const req = check(BrokerCheck, { brokerHost: f.brokerHost, brokerPort: num(f.brokerPort) });
    if (!req) return;
    try {
      const r = await client.invoke('profiles.testBroker', { host: req.brokerHost, port: req.brokerPort });
      setBrokerStatus(t('profiles.brokerOk', { detail: r.detail }));
    } catch (err) {
      if (!fromError(err)) setError(err);
    }
  };
  const hasWifi = profile?.esp32?.hasWifiPassword ?? false;
  // The ladder's rates, plus a stored cap that is not one of them (so it shows and is kept as it is).
  const caps: number[] = [...MAX_BAUD_CHOICES];
  if (f.maxBaud && !caps.includes(Number(f.maxBaud))) caps.unshift(Number(f.maxBaud));
  const speedOptions = [{ value: '', label: t('profiles.maxBaudAuto') }, ...caps.map((r) => ({ value: String(r), label: t('profiles.maxBaudRate', { rate: r }) }))];
  return (
    <form id="profile-form" className="card form" onSubmit={(e) => void submit(e)} noValidate aria-labelledby="profile-form-title">
      <h3 id="profile-form-title">{profile ? t('profiles.editing', { name: profile.name }) : t('profiles.creating')}</h3>
      <FormSummary show={hasErrors} />
      <div className="form-grid">
        <TextField name="name" label={t('profiles.name')} value={f.name} onChange={set('name')} error={errors.name} autoFocus />
        <TextField name="accountId" label={t('profiles.account')} hint={t('profiles.accountHint')} value={f.accountId} onChange={set('accountId')} error={errors.accountId} inputMode="numeric" />
        <TextField name="codeTemplate" label={t('profiles.codeTemplate')} hint={t('profiles.codeTemplateHint')} value={f.codeTemplate} onChange={set('codeTemplate')} error={errors.codeTemplate} />
        <TextField name="nameTemplate" label={t('profiles.nameTemplate')} value={f.nameTemplate} onChange={set('nameTemplate')} error={errors.nameTemplate} />
        <TextField name="brokerHost" label={t('profiles.brokerHost')} value={f.brokerHost} onChange={set('brokerHost')} error={errors.brokerHost} />
        <TextField name="brokerPort" label={t('profiles.brokerPort')} value={f.brokerPort} onChange={set('brokerPort')} error={errors.brokerPort} inputMode="numeric" />
        <div className="field field--button">
          <button type="button" className="btn" onClick={() => void testBroker()} data-testid="test-broker">
            {t('profiles.testBroker')}
          </button>
          {brokerStatus && <small role="status">{brokerStatus}</small>}
        </div>
        <SelectField<KeyType> name="keyType" label={t('profiles.keyType')} value={keyType} onChange={setKeyType} options={KEY_TYPES.map((k) => ({ value: k, label: t(`profiles.keyTypes.${k}`) }))} error={errors.keyType} />
        <SelectField<KeyMode> name="keyMode" label={t('profiles.keyMode')} value={keyMode} onChange={setKeyMode} options={KEY_MODES.map((k) => ({ value: k, label: t(`profiles.keyModes.${k}`) }))} error={errors.keyMode} />
        <TextField name="validityDays" label={t('profiles.validity')} hint={t('profiles.validityHint')} value={f.validityDays} onChange={set('validityDays')} error={errors.validityDays} inputMode="numeric" />
      </div>
      <fieldset>
        <legend>{t('profiles.esp32')}</legend>
        <CheckboxField name="esp32" label={t('profiles.esp32Enabled')} checked={esp32On} onChange={setEsp32On} />
        {esp32On && (
          <div className="form-grid">
            <TextField name="esp32.bundlePath" label={t('profiles.bundle')} value={f.bundlePath} onChange={set('bundlePath')} error={errors['esp32.bundlePath']} placeholder="/home/tech/firmware/tds-gw-1.2.0" className="field--wide" />
            <div className="field field--button">
              <button type="button" className="btn" onClick={() => void checkBundle()}>
                {t('profiles.bundleCheck')}
              </button>
              {bundle && <small role="status">{t('profiles.bundleOk', { name: bundle.name, version: bundle.version, chips: bundle.chips.join(', ') })}</small>}
            </div>
            <TextField name="esp32.wifiSsid" label={t('profiles.wifiSsid')} value={f.wifiSsid} onChange={set('wifiSsid')} error={errors['esp32.wifiSsid']} />
            <TextField
              name="esp32.wifiPassword"
              type="password"
              label={t('profiles.wifiPassword')}
              value={f.wifiPassword}
              onChange={set('wifiPassword')}
              error={errors['esp32.wifiPassword']}
              hint={wifiOpen ? t('profiles.wifiOpen') : hasWifi ? t('profiles.wifiKeep') : undefined}
              disabled={wifiOpen}
            />
            <CheckboxField name="esp32.open" label={t('profiles.wifiClear')} checked={wifiOpen} onChange={setWifiOpen} />
            <SelectField<string> name="esp32.maxBaud" label={t('profiles.maxBaud')} hint={t('profiles.maxBaudHint')} value={f.maxBaud} onChange={set('maxBaud')} options={speedOptions} error={errors['esp32.maxBaud']} />
            <SelectField<ResetMode> name="esp32.resetMode" label={t('profiles.resetMode')} value={resetMode} onChange={setResetMode} options={RESET_MODES.map((k) => ({ value: k, label: t(`profiles.resetModes.${k}`) }))} error={errors['esp32.resetMode']} />
            <TextField name="esp32.onlineTimeoutSec" label={t('profiles.onlineTimeout')} value={f.onlineTimeoutSec} onChange={set('onlineTimeoutSec')} error={errors['esp32.onlineTimeoutSec']} inputMode="numeric" />
            <CheckboxField name="esp32.birthIdentity" label={t('profiles.birthIdentity')} hint={t('profiles.birthIdentityHint')} checked={birthIdentity} onChange={setBirthIdentity} />
          </div>
        )}
        {esp32On && <ModbusFields kind="esp32" value={espModbus} onChange={setEspModbus} errors={errors} />}
      </fieldset>
      <fieldset>
        <legend>{t('profiles.pi')}</legend>
        <CheckboxField name="pi" label={t('profiles.piEnabled')} checked={piOn} onChange={setPiOn} />
        {piOn && (
          <div className="form-grid">
            <TextField name="pi.installPrefix" label={t('profiles.installPrefix')} hint={t('profiles.installPrefixHint')} value={f.installPrefix} onChange={set('installPrefix')} error={errors['pi.installPrefix']} />
            <SelectField<ServiceManager> name="pi.serviceManager" label={t('profiles.serviceManager')} value={serviceManager} onChange={setServiceManager} options={SERVICE_MANAGERS.map((k) => ({ value: k, label: t(`profiles.serviceManagers.${k}`) }))} error={errors['pi.serviceManager']} />
            <TextField name="pi.onlineTimeoutSec" label={t('profiles.onlineTimeout')} value={f.piOnlineTimeoutSec} onChange={set('piOnlineTimeoutSec')} error={errors['pi.onlineTimeoutSec']} inputMode="numeric" />
          </div>
        )}
        {piOn && <PiAgentFields value={piAgent} onChange={setPiAgent} errors={errors} />}
      </fieldset>
      <ErrorNotice error={error} />
      <div className="actions">
        <button type="submit" className="btn btn--primary" disabled={busy}>
          {tc('actions.save')}
        </button>
        <button type="button" className="btn" onClick={onCancel}>
          {tc('actions.cancel')}
        </button>
      </div>
    </form>
  );
}
