import { useTranslation } from 'react-i18next';

/** A step's name in words in the UI language (a step this renderer does not know keeps its name). */
export function useStepName(): (name: string) => string {
  const { t, i18n } = useTranslation();
  return (name) => (i18n.exists(`steps.${name}`) ? t(`steps.${name}` as 'steps.probe') : name);
}
