import jsQR from 'jsqr';
import { useEffect, useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { parseClaimQr } from '@tds/server/contract';

/** Frames are decoded this often: enough for a hand-held label, light on a laptop's CPU. */
const FRAME_MS = 150;
/** Frames are scaled down to this width before decoding (a label QR is large in the picture). */
const MAX_WIDTH = 960;

type Status = { kind: 'starting' } | { kind: 'aiming' } | { kind: 'foreign' } | { kind: 'denied' } | { kind: 'missing' } | { kind: 'failed'; message: string };

/**
 * The laptop's camera as a QR reader (jsQR on canvas frames, in the page: no picture leaves it).
 * Calls `onScan` with the first TDS claim QR it reads, then stops the camera; other QR codes are
 * named and ignored. The stream is stopped when the component goes away.
 */
export function CameraScanner({ onScan, onClose }: { onScan: (text: string) => void; onClose: () => void }) {
  const { t } = useTranslation('claim');
  const video = useRef<HTMLVideoElement>(null);
  const [status, setStatus] = useState<Status>({ kind: 'starting' });
  const [cameras, setCameras] = useState<MediaDeviceInfo[]>([]);
  /** The camera asked for (none: the back camera if there is one); `activeId` is the one in use. */
  const [cameraId, setCameraId] = useState<string>('');
  const [activeId, setActiveId] = useState<string>('');
  const scanned = useRef(onScan);
  useEffect(() => {
    scanned.current = onScan;
  });

  useEffect(() => {
    let stream: MediaStream | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    const canvas = document.createElement('canvas');
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    const stop = (): void => {
      stopped = true;
      if (timer) clearTimeout(timer);
      for (const track of stream?.getTracks() ?? []) track.stop();
    };
    const frame = (): void => {
      if (stopped) return;
      const v = video.current;
      if (v && ctx && v.readyState >= HTMLMediaElement.HAVE_CURRENT_DATA && v.videoWidth > 0) {
        const scale = Math.min(1, MAX_WIDTH / v.videoWidth);
        canvas.width = Math.round(v.videoWidth * scale);
        canvas.height = Math.round(v.videoHeight * scale);
        ctx.drawImage(v, 0, 0, canvas.width, canvas.height);
        const image = ctx.getImageData(0, 0, canvas.width, canvas.height);
        const code = jsQR(image.data, image.width, image.height, { inversionAttempts: 'attemptBoth' });
        if (code?.data) {
          if (parseClaimQr(code.data).ok) {
            stop();
            scanned.current(code.data);
            return;
          }
          setStatus({ kind: 'foreign' });
        }
      }
      timer = setTimeout(frame, FRAME_MS);
    };
    (async () => {
      try {
        stream = await navigator.mediaDevices.getUserMedia({ audio: false, video: cameraId ? { deviceId: { exact: cameraId } } : { facingMode: 'environment' } });
        if (stopped) return stop();
        const v = video.current;
        if (!v) return stop();
        v.srcObject = stream;
        await v.play();
        setStatus({ kind: 'aiming' });
        setActiveId(stream.getVideoTracks()[0]?.getSettings().deviceId ?? '');
        // Labels are known once the permission is granted.
        setCameras((await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'videoinput'));
        frame();
      } catch (err) {
        if (stopped) return;
        const name = err instanceof DOMException ? err.name : '';
        if (name === 'NotAllowedError' || name === 'SecurityError') setStatus({ kind: 'denied' });
        else if (name === 'NotFoundError' || name === 'OverconstrainedError' || !navigator.mediaDevices) setStatus({ kind: 'missing' });
        else setStatus({ kind: 'failed', message: err instanceof Error ? err.message : String(err) });
        stop();
      }
    })();
    return stop;
  }, [cameraId]);

  const text =
    status.kind === 'failed'
      ? t('find.cameraFailed', { message: status.message })
      : t(({ starting: 'find.cameraStarting', aiming: 'find.cameraAim', foreign: 'find.cameraForeign', denied: 'find.cameraDenied', missing: 'find.cameraMissing' } as const)[status.kind]);
  const broken = status.kind === 'denied' || status.kind === 'missing' || status.kind === 'failed';
  return (
    <div className="claim-camera" data-testid="claim-camera" data-status={status.kind}>
      <video ref={video} className="claim-camera__video" muted playsInline aria-label={t('find.video')} hidden={broken} />
      <p className={broken ? 'notice notice--error' : 'muted'} role={broken ? 'alert' : 'status'}>
        {text}
      </p>
      <div className="actions">
        {cameras.length > 1 && (
          <label>
            {t('find.cameraPick')}{' '}
            <select value={activeId} onChange={(e) => setCameraId(e.target.value)}>
              {cameras.map((c, i) => (
                <option key={c.deviceId} value={c.deviceId}>
                  {c.label || `${t('find.cameraPick')} ${i + 1}`}
                </option>
              ))}
            </select>
          </label>
        )}
        <button type="button" className="btn" onClick={onClose}>
          {t('find.cameraStop')}
        </button>
      </div>
    </div>
  );
}
