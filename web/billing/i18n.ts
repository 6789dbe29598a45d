/**
 * The page's words in English, Hindi and Korean, in the register of the seed help pages
 * (../shared/seeds): Hindi and Korean keep the product's terms (credits, flex billing, workspace,
 * plan, billing cycle) in English where the seeds do. The accessible names the tests drive the
 * page by are here: enable, disable, removeCap, save, buy, capLabel, confirm, cancel.
 */
export const LOCALES = ['en', 'hi', 'ko'] as const;
export type Locale = (typeof LOCALES)[number];

export const LOCALE_NAMES: Record<Locale, string> = { en: 'English', hi: 'हिन्दी', ko: '한국어' };

/** Placeholders are `{name}`, filled by t(). */
const en = {
  pageTitle: 'Plan & Billing',
  language: 'Language',
  back: 'Back to your workspace',
  loading: 'Loading…',
  sessionEnded:
    'Your billing session has ended. Open the billing page again from your workspace to get a new link.',
  loadFailed: 'The billing page could not be loaded. Try again in a moment.',
  plan: 'Plan: {plan}',
  // Balances
  balances: 'Credits this billing cycle',
  included: 'Included credits',
  includedDetail: '{used} of {granted} used, {left} left. Resets on {date}.',
  includedDetailYear: '{used} of {granted} used, {left} left. Your annual credits reset on {date}.',
  prepaid: 'Prepaid credits',
  prepaidDetail: '{left} left ({used} used this cycle). Prepaid credits never expire.',
  flexUsage: 'Flex usage',
  flexDetail: '{used} of {limit} used this cycle ({credits} credits).',
  flexDetailNoCap: '{used} used this cycle ({credits} credits). No cap.',
  flexDetailOff: 'Flex billing is off.',
  flexDetailFree: 'Flex billing is not offered on the Free plan.',
  flexDetailNotIncluded: 'Flex billing is not included in your plan.',
  // Banners
  alerts: 'Alerts',
  buyPrepaid: 'Buy prepaid credits',
  raiseCap: 'Raise the cap',
  // Flex card
  flexTitle: 'Flex Billing',
  flexOn: 'On',
  flexOff: 'Off',
  flexIntro:
    'Flex credits are consumed when flex billing is enabled, and after your workspace runs out of both included and prepaid credits. Flex usage is billed monthly to the payment method on file.',
  flexFree:
    'Flex billing is not offered on the Free plan. When your included and prepaid credits run out, features that use credits stop until your included credits reset or you buy more prepaid credits.',
  flexNotIncluded:
    'Flex billing is not included in your plan. When your included and prepaid credits run out, features that use credits stop until your included credits reset or you buy more prepaid credits.',
  flexOffText:
    'Flex billing is disabled: features that require credits stop once your included and prepaid credits are used.',
  enable: 'Enable',
  disable: 'Disable',
  removeCap: 'Remove cap',
  save: 'Save',
  capLabel: 'Flex cap (USD)',
  capHelp: 'The most your workspace can spend on Flex Usage per billing cycle. Minimum $1.',
  capHelpYear: 'The most your workspace can spend on Flex Usage per yearly billing cycle. Minimum $1.',
  capNone: 'No cap: there is no limit on Flex Usage.',
  capError: 'Enter an amount of at least $1.00.',
  capSaved: 'Flex cap saved: {cap}.',
  flexFailed: 'That change was not saved. Try again in a moment.',
  threshold:
    'Billing threshold: {threshold}. Your workspace has a billing threshold that limits flex usage; it is lower than your cap, so flex usage stops at {threshold} this cycle.',
  thresholdNoCap:
    'Billing threshold: {threshold}. Your workspace has a billing threshold that limits flex usage; there is no cap, so flex usage stops at {threshold} this cycle.',
  thresholdEqual:
    'Billing threshold: {threshold}. Your workspace has a billing threshold that limits flex usage; it is the same as your cap, so flex usage stops at {threshold} this cycle.',
  enableTitle: 'Enable Flex Billing?',
  enableBody:
    'When Flex Billing is enabled, your payment method on file is automatically charged for any Flex Usage. It starts with a default cap of {cap}.',
  removeTitle: 'Remove the flex cap?',
  removeBody:
    'There will be no spending limit on Flex Usage: your workspace can spend any amount on Flex Usage per billing cycle.',
  disableTitle: 'Disable Flex Billing?',
  disableBody:
    'In-flight training jobs and deployments will stop once credits run out. Features that require credits stop working once your included and prepaid credits are used.',
  confirm: 'Confirm',
  cancel: 'Cancel',
  perMonth: '{amount} per month',
  perYear: '{amount} per year',
  // Buy credits
  buyTitle: 'Buy prepaid credits',
  buyIntro:
    'Prepaid credits are used after your included credits and never expire. Larger bundles unlock deeper discounts.',
  bundles: 'Bundles',
  bundleOption: '{credits} credits: {amount}',
  off: '{pct}% off',
  otherQuantity: 'Other quantity (credits)',
  quantityOption: 'Any quantity',
  quantityPrice: '{credits} credits: {amount} ({unit} per credit)',
  quantityError: 'Enter a whole number of credits, from 1 to {max}.',
  quoteFailed: 'The price could not be loaded. Try again in a moment.',
  checkoutFailed: 'Checkout could not be started, and nothing was charged. Try again in a moment.',
  buy: 'Buy credits',
  checkoutReturned: 'Your payment is being confirmed. Your credits appear here once it is.',
  checkoutPending:
    'Your payment is not confirmed yet. Your credits appear here once it is: reload this page in a little while.',
  checkoutPaid: 'Your prepaid credits have arrived.',
  checkoutCancelled: 'The purchase was cancelled. Nothing was charged.',
  // Usage
  usageTitle: 'Usage',
  chartTitle: 'Credits used by day, this billing cycle',
  chartTitleRecent: 'Credits used by day, the last {days} days of this billing cycle',
  chartSummary:
    'Credits used by day, stacked by kind: included, prepaid and flex. The table below has the figures.',
  day: 'Day',
  kindIncluded: 'Included',
  kindPrepaid: 'Prepaid',
  kindFlex: 'Flex',
  total: 'Total',
  noUsage: 'No credits used yet this cycle.',
  byCategory: 'By category',
  category: 'Category',
  credits: 'Credits',
  cat_data: 'Data',
  cat_training: 'Training',
  cat_deployment: 'Deployment',
  cat_third_party: 'Third-party models',
  cat_unattributed: 'Other usage',
  cat_other: 'Other',
  ledger: 'Ledger',
  when: 'Date',
  entry: 'Entry',
  kind: 'Kind',
  amount: 'Credits',
  balanceAfter: 'Balance after',
  previous: 'Previous',
  next: 'Next',
  page: 'Page {n}',
  ledgerEmpty: 'No entries.',
  type_consume: 'Usage',
  type_grant: 'Credits added',
  type_expiry: 'Expired',
  type_forfeit: 'Forfeited',
  type_adjustment: 'Adjustment',
  type_refund: 'Refund',
  type_shortfall: 'Not covered',
  recommendations: 'Recommendations',
  noRecommendations: 'No recommendations right now.',
  recPrepaid:
    'Buy {credits} prepaid credits for {amount}: they would have covered your flex usage of the last months for less, a saving of {saving}.',
  recUpgrade: 'Upgrade to {plan}: it would have cost less than what you spent, a saving of {saving}.',
  recSales: 'Talk to Sales about a custom arrangement for your usage.',
};

export type Key = keyof typeof en;

const hi: Record<Key, string> = {
  pageTitle: 'Plan और Billing',
  language: 'भाषा',
  back: 'अपने workspace पर वापस जाएँ',
  loading: 'लोड हो रहा है…',
  sessionEnded:
    'आपका billing session समाप्त हो गया है। नया link पाने के लिए अपने workspace से billing page फिर से खोलें।',
  loadFailed: 'Billing page लोड नहीं हो सका। थोड़ी देर बाद फिर से प्रयास करें।',
  plan: 'Plan: {plan}',
  balances: 'इस billing cycle के credits',
  included: 'Included credits',
  includedDetail: '{granted} में से {used} उपयोग किए गए, {left} बाकी। {date} को रीसेट होंगे।',
  includedDetailYear:
    '{granted} में से {used} उपयोग किए गए, {left} बाकी। आपके वार्षिक credits {date} को रीसेट होंगे।',
  prepaid: 'Prepaid credits',
  prepaidDetail: '{left} बाकी (इस cycle में {used} उपयोग किए गए)। Prepaid credits कभी समाप्त नहीं होते।',
  flexUsage: 'Flex usage',
  flexDetail: 'इस cycle में {limit} में से {used} उपयोग किए गए ({credits} credits)।',
  flexDetailNoCap: 'इस cycle में {used} उपयोग किए गए ({credits} credits)। कोई cap नहीं।',
  flexDetailOff: 'Flex billing बंद है।',
  flexDetailFree: 'Free plan पर flex billing उपलब्ध नहीं है।',
  flexDetailNotIncluded: 'आपके plan में flex billing शामिल नहीं है।',
  alerts: 'Alerts',
  buyPrepaid: 'prepaid credits खरीदें',
  raiseCap: 'cap बढ़ाएँ',
  flexTitle: 'Flex Billing',
  flexOn: 'चालू',
  flexOff: 'बंद',
  flexIntro:
    'जब flex billing सक्षम होती है, तब Flex credits का उपयोग होता है, और जब आपके workspace के included और prepaid दोनों credits समाप्त हो जाते हैं, उसके बाद। Flex usage का बिल file में मौजूद billing method पर मासिक आधार पर भेजा जाता है।',
  flexFree:
    'Free plan पर flex billing उपलब्ध नहीं है। जब आपके included और prepaid credits समाप्त हो जाते हैं, तो credits का उपयोग करने वाली सुविधाएँ तब तक रुक जाती हैं जब तक आपके included credits रीसेट नहीं होते या आप और prepaid credits नहीं खरीदते।',
  flexNotIncluded:
    'आपके plan में flex billing शामिल नहीं है। जब आपके included और prepaid credits समाप्त हो जाते हैं, तो credits का उपयोग करने वाली सुविधाएँ तब तक रुक जाती हैं जब तक आपके included credits रीसेट नहीं होते या आप और prepaid credits नहीं खरीदते।',
  flexOffText:
    'Flex billing अक्षम है: आपके included और prepaid credits उपयोग हो जाने के बाद credits की आवश्यकता वाली सुविधाएँ काम करना बंद कर देंगी।',
  enable: 'सक्षम करें',
  disable: 'अक्षम करें',
  removeCap: 'cap हटाएँ',
  save: 'सहेजें',
  capLabel: 'Flex cap (USD में)',
  capHelp: 'हर billing cycle में आपका workspace Flex Usage पर अधिकतम कितना खर्च कर सकता है। न्यूनतम $1।',
  capHelpYear: 'हर वार्षिक billing cycle में आपका workspace Flex Usage पर अधिकतम कितना खर्च कर सकता है। न्यूनतम $1।',
  capNone: 'कोई cap नहीं: Flex Usage पर कोई सीमा नहीं है।',
  capError: 'कम से कम $1.00 की राशि दर्ज करें।',
  capSaved: 'Flex cap सहेजा गया: {cap}।',
  flexFailed: 'यह बदलाव सहेजा नहीं गया। थोड़ी देर बाद फिर से प्रयास करें।',
  threshold:
    'Billing threshold: {threshold}। आपके workspace में एक billing threshold है जो flex usage को सीमित करता है; यह आपके cap से कम है, इसलिए इस cycle में flex usage {threshold} पर रुक जाएगी।',
  thresholdNoCap:
    'Billing threshold: {threshold}। आपके workspace में एक billing threshold है जो flex usage को सीमित करता है; कोई cap नहीं है, इसलिए इस cycle में flex usage {threshold} पर रुक जाएगी।',
  thresholdEqual:
    'Billing threshold: {threshold}। आपके workspace में एक billing threshold है जो flex usage को सीमित करता है; यह आपके cap के बराबर है, इसलिए इस cycle में flex usage {threshold} पर रुक जाएगी।',
  enableTitle: 'Flex Billing सक्षम करें?',
  enableBody:
    'जब Flex Billing सक्षम होती है, तो किसी भी Flex Usage के लिए file में मौजूद आपके payment method से अपने आप शुल्क लिया जाता है। यह {cap} के default cap के साथ शुरू होती है।',
  removeTitle: 'Flex cap हटाएँ?',
  removeBody:
    'Flex Usage पर खर्च की कोई सीमा नहीं रहेगी: आपका workspace हर billing cycle में Flex Usage पर कितनी भी राशि खर्च कर सकता है।',
  disableTitle: 'Flex Billing अक्षम करें?',
  disableBody:
    'Credits समाप्त होते ही चल रहे training jobs और deployments रुक जाएँगे। आपके included और prepaid credits उपयोग हो जाने के बाद credits की आवश्यकता वाली सुविधाएँ काम करना बंद कर देंगी।',
  confirm: 'पुष्टि करें',
  cancel: 'रद्द करें',
  perMonth: '{amount} प्रति माह',
  perYear: '{amount} प्रति वर्ष',
  buyTitle: 'Prepaid credits खरीदें',
  buyIntro:
    'Prepaid credits आपके included credits के बाद उपयोग होते हैं और कभी समाप्त नहीं होते। बड़े bundles और गहरे discounts unlock करते हैं।',
  bundles: 'Bundles',
  bundleOption: '{credits} credits: {amount}',
  off: '{pct}% छूट',
  otherQuantity: 'कोई और मात्रा (credits)',
  quantityOption: 'कोई भी मात्रा',
  quantityPrice: '{credits} credits: {amount} ({unit} प्रति credit)',
  quantityError: 'credits की एक पूर्ण संख्या दर्ज करें, 1 से {max} तक।',
  quoteFailed: 'कीमत लोड नहीं हो सकी। थोड़ी देर बाद फिर से प्रयास करें।',
  checkoutFailed: 'Checkout शुरू नहीं हो सका, और कोई शुल्क नहीं लिया गया। थोड़ी देर बाद फिर से प्रयास करें।',
  buy: 'credits खरीदें',
  checkoutReturned: 'आपके भुगतान की पुष्टि की जा रही है। पुष्टि होते ही आपके credits यहाँ दिखाई देंगे।',
  checkoutPending:
    'आपके भुगतान की अभी पुष्टि नहीं हुई है। पुष्टि होते ही आपके credits यहाँ दिखाई देंगे: थोड़ी देर बाद यह page फिर से लोड करें।',
  checkoutPaid: 'आपके prepaid credits आ गए हैं।',
  checkoutCancelled: 'खरीद रद्द कर दी गई। कोई शुल्क नहीं लिया गया।',
  usageTitle: 'Usage',
  chartTitle: 'इस billing cycle में दिन के अनुसार उपयोग किए गए credits',
  chartTitleRecent: 'इस billing cycle के पिछले {days} दिनों में दिन के अनुसार उपयोग किए गए credits',
  chartSummary:
    'दिन के अनुसार उपयोग किए गए credits, प्रकार के अनुसार: included, prepaid और flex। नीचे दी गई table में आँकड़े हैं।',
  day: 'दिन',
  kindIncluded: 'Included',
  kindPrepaid: 'Prepaid',
  kindFlex: 'Flex',
  total: 'कुल',
  noUsage: 'इस cycle में अभी तक कोई credits उपयोग नहीं हुए।',
  byCategory: 'श्रेणी के अनुसार',
  category: 'श्रेणी',
  credits: 'Credits',
  cat_data: 'Data',
  cat_training: 'Training',
  cat_deployment: 'Deployment',
  cat_third_party: 'Third-party models',
  cat_unattributed: 'अन्य उपयोग',
  cat_other: 'अन्य',
  ledger: 'Ledger',
  when: 'तारीख',
  entry: 'प्रविष्टि',
  kind: 'प्रकार',
  amount: 'Credits',
  balanceAfter: 'बाद में शेष',
  previous: 'पिछला',
  next: 'अगला',
  page: 'पृष्ठ {n}',
  ledgerEmpty: 'कोई प्रविष्टि नहीं।',
  type_consume: 'उपयोग',
  type_grant: 'Credits जोड़े गए',
  type_expiry: 'समाप्त हुए',
  type_forfeit: 'ज़ब्त हुए',
  type_adjustment: 'समायोजन',
  type_refund: 'Refund',
  type_shortfall: 'कवर नहीं हुआ',
  recommendations: 'Recommendations',
  noRecommendations: 'अभी कोई recommendation नहीं।',
  recPrepaid:
    '{amount} में {credits} prepaid credits खरीदें: ये पिछले महीनों की आपकी flex usage को कम कीमत पर कवर कर देते, {saving} की बचत।',
  recUpgrade: '{plan} पर upgrade करें: इसकी लागत आपके खर्च से कम होती, {saving} की बचत।',
  recSales: 'अपने उपयोग के लिए custom arrangement के लिए Sales से संपर्क करें।',
};

const ko: Record<Key, string> = {
  pageTitle: 'Plan 및 Billing',
  language: '언어',
  back: 'workspace로 돌아가기',
  loading: '불러오는 중…',
  sessionEnded:
    'billing 세션이 종료되었습니다. 새 링크를 받으려면 workspace에서 billing 페이지를 다시 여세요.',
  loadFailed: 'billing 페이지를 불러오지 못했습니다. 잠시 후 다시 시도하세요.',
  plan: 'Plan: {plan}',
  balances: '이번 billing cycle의 크레딧',
  included: 'Included credits',
  includedDetail: '{granted} 중 {used} 사용, {left} 남음. {date}에 초기화됩니다.',
  includedDetailYear: '{granted} 중 {used} 사용, {left} 남음. 연간 크레딧은 {date}에 초기화됩니다.',
  prepaid: 'Prepaid credits',
  prepaidDetail: '{left} 남음 (이번 cycle에 {used} 사용). Prepaid credits는 만료되지 않습니다.',
  flexUsage: 'Flex usage',
  flexDetail: '이번 cycle에 {limit} 중 {used} 사용 ({credits} 크레딧).',
  flexDetailNoCap: '이번 cycle에 {used} 사용 ({credits} 크레딧). 한도 없음.',
  flexDetailOff: 'Flex billing이 꺼져 있습니다.',
  flexDetailFree: 'Free plan에서는 flex billing을 제공하지 않습니다.',
  flexDetailNotIncluded: '현재 plan에는 flex billing이 포함되어 있지 않습니다.',
  alerts: '알림',
  buyPrepaid: 'prepaid credits 구매',
  raiseCap: '한도 올리기',
  flexTitle: 'Flex Billing',
  flexOn: '켜짐',
  flexOff: '꺼짐',
  flexIntro:
    'Flex credits는 flex billing이 활성화되어 있고, workspace의 included 및 prepaid credits가 모두 소진된 후에 소모됩니다. flex usage는 등록된 billing method로 매월 청구됩니다.',
  flexFree:
    'Free plan에서는 flex billing을 제공하지 않습니다. included 및 prepaid credits가 소진되면 included credits가 초기화되거나 prepaid credits를 더 구매할 때까지 크레딧을 사용하는 기능을 쓸 수 없습니다.',
  flexNotIncluded:
    '현재 plan에는 flex billing이 포함되어 있지 않습니다. included 및 prepaid credits가 소진되면 included credits가 초기화되거나 prepaid credits를 더 구매할 때까지 크레딧을 사용하는 기능을 쓸 수 없습니다.',
  flexOffText:
    'Flex billing이 비활성화되어 있습니다: included 및 prepaid credits를 모두 사용하면 크레딧이 필요한 기능이 중지됩니다.',
  enable: '활성화',
  disable: '비활성화',
  removeCap: '한도 제거',
  save: '저장',
  capLabel: 'Flex 한도 (USD)',
  capHelp: 'workspace가 billing cycle마다 Flex Usage에 지출할 수 있는 최대 금액입니다. 최소 $1.',
  capHelpYear: 'workspace가 연간 billing cycle마다 Flex Usage에 지출할 수 있는 최대 금액입니다. 최소 $1.',
  capNone: '한도 없음: Flex Usage에 지출 한도가 없습니다.',
  capError: '$1.00 이상의 금액을 입력하세요.',
  capSaved: 'Flex 한도가 저장되었습니다: {cap}.',
  flexFailed: '변경 사항이 저장되지 않았습니다. 잠시 후 다시 시도하세요.',
  threshold:
    'Billing threshold: {threshold}. workspace에 flex usage를 제한하는 billing threshold가 있으며, 설정한 한도보다 낮기 때문에 이번 cycle의 flex usage는 {threshold}에서 멈춥니다.',
  thresholdNoCap:
    'Billing threshold: {threshold}. workspace에 flex usage를 제한하는 billing threshold가 있으며, 설정된 한도가 없으므로 이번 cycle의 flex usage는 {threshold}에서 멈춥니다.',
  thresholdEqual:
    'Billing threshold: {threshold}. workspace에 flex usage를 제한하는 billing threshold가 있으며, 설정한 한도와 같으므로 이번 cycle의 flex usage는 {threshold}에서 멈춥니다.',
  enableTitle: 'Flex Billing을 활성화할까요?',
  enableBody:
    'Flex Billing이 활성화되면 Flex Usage에 대해 등록된 결제 수단으로 자동 청구됩니다. 기본 한도 {cap}로 시작합니다.',
  removeTitle: 'Flex 한도를 제거할까요?',
  removeBody:
    'Flex Usage에 지출 한도가 없어집니다: workspace가 billing cycle마다 Flex Usage에 금액 제한 없이 지출할 수 있습니다.',
  disableTitle: 'Flex Billing을 비활성화할까요?',
  disableBody:
    '크레딧이 소진되면 진행 중인 training 작업과 deployments가 중지됩니다. included 및 prepaid credits를 모두 사용하면 크레딧이 필요한 기능이 작동하지 않습니다.',
  confirm: '확인',
  cancel: '취소',
  perMonth: '월 {amount}',
  perYear: '연 {amount}',
  buyTitle: 'Prepaid credits 구매',
  buyIntro:
    'Prepaid credits는 included credits 다음에 사용되며 만료되지 않습니다. 더 큰 번들일수록 더 큰 할인이 적용됩니다.',
  bundles: '번들',
  bundleOption: '{credits} 크레딧: {amount}',
  off: '{pct}% 할인',
  otherQuantity: '다른 수량 (크레딧)',
  quantityOption: '원하는 수량',
  quantityPrice: '{credits} 크레딧: {amount} (크레딧당 {unit})',
  quantityError: '1부터 {max}까지의 정수로 크레딧 수를 입력하세요.',
  quoteFailed: '가격을 불러오지 못했습니다. 잠시 후 다시 시도하세요.',
  checkoutFailed: 'Checkout을 시작하지 못했으며, 청구된 금액은 없습니다. 잠시 후 다시 시도하세요.',
  buy: '크레딧 구매',
  checkoutReturned: '결제를 확인하고 있습니다. 확인되면 크레딧이 여기에 표시됩니다.',
  checkoutPending:
    '결제가 아직 확인되지 않았습니다. 확인되면 크레딧이 여기에 표시됩니다. 잠시 후 이 페이지를 새로 고치세요.',
  checkoutPaid: 'prepaid credits가 추가되었습니다.',
  checkoutCancelled: '구매가 취소되었습니다. 청구된 금액은 없습니다.',
  usageTitle: 'Usage',
  chartTitle: '이번 billing cycle의 일별 크레딧 사용량',
  chartTitleRecent: '이번 billing cycle의 최근 {days}일 일별 크레딧 사용량',
  chartSummary:
    '일별 크레딧 사용량을 종류별(included, prepaid, flex)로 쌓아 표시합니다. 아래 표에 수치가 있습니다.',
  day: '날짜',
  kindIncluded: 'Included',
  kindPrepaid: 'Prepaid',
  kindFlex: 'Flex',
  total: '합계',
  noUsage: '이번 cycle에 아직 사용한 크레딧이 없습니다.',
  byCategory: '범주별',
  category: '범주',
  credits: '크레딧',
  cat_data: 'Data',
  cat_training: 'Training',
  cat_deployment: 'Deployment',
  cat_third_party: '타사 모델',
  cat_unattributed: '기타 사용량',
  cat_other: '기타',
  ledger: '원장',
  when: '날짜',
  entry: '항목',
  kind: '종류',
  amount: '크레딧',
  balanceAfter: '이후 잔액',
  previous: '이전',
  next: '다음',
  page: '{n}페이지',
  ledgerEmpty: '항목이 없습니다.',
  type_consume: '사용',
  type_grant: '크레딧 추가',
  type_expiry: '만료',
  type_forfeit: '몰수',
  type_adjustment: '조정',
  type_refund: '환불',
  type_shortfall: '미충당',
  recommendations: '추천',
  noRecommendations: '현재 추천 사항이 없습니다.',
  recPrepaid:
    '{amount}에 prepaid credits {credits}개를 구매하세요: 지난 몇 달의 flex usage를 더 저렴하게 충당할 수 있었으며, {saving} 절감됩니다.',
  recUpgrade: '{plan}(으)로 업그레이드하세요: 지출한 금액보다 비용이 적었을 것이며, {saving} 절감됩니다.',
  recSales: '사용량에 맞는 맞춤형 계약을 위해 Sales에 문의하세요.',
};

const TEXTS: Record<Locale, Record<Key, string>> = { en, hi, ko };

/** A key the page does not know (a new ledger type, say) comes back as itself. */
export type T = (key: Key, vars?: Record<string, string | number>) => string;

export function translator(locale: Locale): T {
  return (key, vars = {}) =>
    (TEXTS[locale][key] ?? key).replace(/\{(\w+)\}/g, (m, name: string) =>
      vars[name] === undefined ? m : String(vars[name]),
    );
}

export function isLocale(v: unknown): v is Locale {
  return typeof v === 'string' && (LOCALES as readonly string[]).includes(v);
}
