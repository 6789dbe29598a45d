/**
 * The page a billing link that opens nothing answers with: expired, already used or not
 * valid, in the link's language (or the browser's), with the way back when the link knew it.
 * It shows nothing of the workspace.
 */
import { escapeHtml } from '../http/escape-html.js';
import type { BillingLocale } from './billing-service.js';

type Reason = 'expired' | 'used' | 'invalid';

const TEXTS: Record<
  BillingLocale,
  { title: string; again: string; back: string; reasons: Record<Reason, string> }
> = {
  en: {
    title: 'This billing link cannot be opened',
    reasons: {
      expired: 'This link has expired. Links to the billing page work once, for a short time.',
      used: 'This link was already used. Each link opens the billing page once.',
      invalid: 'This link is not valid.',
    },
    again: 'Open the billing page again from your workspace to get a new link.',
    back: 'Back to your workspace',
  },
  hi: {
    title: 'यह billing link खोला नहीं जा सकता',
    reasons: {
      expired: 'यह link समाप्त हो गया है। Billing page के links केवल एक बार और थोड़े समय के लिए काम करते हैं।',
      used: 'यह link पहले ही उपयोग किया जा चुका है। हर link billing page को केवल एक बार खोलता है।',
      invalid: 'यह link मान्य नहीं है।',
    },
    again: 'नया link पाने के लिए अपने workspace से billing page फिर से खोलें।',
    back: 'अपने workspace पर वापस जाएँ',
  },
  ko: {
    title: '이 billing 링크를 열 수 없습니다',
    reasons: {
      expired: '이 링크는 만료되었습니다. billing 페이지 링크는 짧은 시간 동안 한 번만 사용할 수 있습니다.',
      used: '이 링크는 이미 사용되었습니다. 각 링크는 billing 페이지를 한 번만 엽니다.',
      invalid: '유효하지 않은 링크입니다.',
    },
    again: '새 링크를 받으려면 workspace에서 billing 페이지를 다시 여세요.',
    back: 'workspace로 돌아가기',
  },
};

export function linkRefusalPage(o: {
  reason: Reason;
  locale: BillingLocale;
  returnUrl: string | null;
}): string {
  const t = TEXTS[o.locale];
  const back = o.returnUrl ? `<p><a href="${escapeHtml(o.returnUrl)}">${escapeHtml(t.back)}</a></p>` : '';
  return `<!doctype html>
<html lang="${o.locale}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(t.title)}</title>
<link rel="stylesheet" href="/billing/app.css">
</head>
<body>
<main class="link-refused" data-reason="${o.reason}">
<h1>${escapeHtml(t.title)}</h1>
<p>${escapeHtml(t.reasons[o.reason])}</p>
<p>${escapeHtml(t.again)}</p>
${back}
</main>
</body>
</html>
`;
}
