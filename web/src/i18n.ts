// Every user-visible string, in English and Chinese. `zh` is typed against `en`, so a missing
// translation is a compile error.

import { createContext, useContext } from 'react';
import type { Language } from './api';

const en = {
  'app.title': 'Voice call',
  'app.tagline': 'Talk with an AI assistant by voice.',
  'app.skip': 'Skip to content',
  'nav.call': 'Call',
  'nav.analytics': 'Analytics',
  'nav.language': 'Interface language',
  'lang.en': 'English',
  'lang.zh': '中文',

  'join.name': 'Your name',
  'join.namePlaceholder': 'e.g. Alex',
  'join.language': 'Conversation language',
  'join.accessCode': 'Access code',
  'join.accessCodeHint': 'This server needs an access code.',
  'join.submit': 'Start call',
  'join.connecting': 'Connecting…',
  'join.checkingMic': 'Checking microphone…',

  'error.title': 'Could not start the call',
  'error.micDenied': 'Microphone access was denied. Allow the microphone for this site in your browser settings and try again.',
  'error.micMissing': 'No microphone was found. Connect one and try again.',
  'error.micBusy': 'The microphone is in use by another application or could not be opened.',
  'error.accessCodeRequired': 'An access code is required to start a call.',
  'error.accessCodeInvalid': 'That access code is not valid.',
  'error.tokenRefused': 'The server refused to start a call.',
  'error.unreachable': 'The server could not be reached. Check your connection and try again.',
  'error.server': 'The server had a problem. Please try again in a moment.',
  'error.badResponse': 'The server sent an unexpected answer.',
  'error.roomConnect': 'Could not connect to the call server.',
  'error.agentTimeout': 'The assistant did not join within {seconds} seconds.',
  'error.disconnected': 'The call was disconnected.',
  'error.serverSaid': 'Server message: {message}',
  'error.retry': 'Try again',

  'call.reconnecting': 'Connection lost — reconnecting…',
  'call.waitingAgent': 'Waiting for the assistant to join…',
  'call.room': 'Room {room}',
  'call.mute': 'Mute microphone',
  'call.unmute': 'Unmute microphone',
  'call.muted': 'Your microphone is muted',
  'call.hangup': 'Hang up',
  'call.ended': 'Call ended.',
  'call.newCall': 'New call',
  'call.startAudio': 'Click to allow audio playback',
  'call.transcript': 'Transcript',
  'call.transcriptEmpty': 'Say hello — the conversation will appear here.',
  'call.you': 'You',
  'call.agent': 'Assistant',
  'call.interim': '(still listening)',
  'call.latency': 'Response time per turn',
  'call.lastLatency': 'Last reply after {value}',
  'call.turnN': 'Turn {n}',
  'call.visualizer': 'Assistant audio level',

  'state.disconnected': 'Not connected',
  'state.connecting': 'Connecting',
  'state.pre-connect-buffering': 'Connecting',
  'state.failed': 'Failed',
  'state.initializing': 'Getting ready',
  'state.idle': 'Idle',
  'state.listening': 'Listening',
  'state.thinking': 'Thinking',
  'state.speaking': 'Speaking',

  'an.title': 'Analytics',
  'an.from': 'From',
  'an.to': 'To',
  'an.langFilter': 'Language',
  'an.provider': 'Provider',
  'an.all': 'All',
  'an.apply': 'Apply',
  'an.loading': 'Loading…',
  'an.totals': 'Totals',
  'an.sessions': 'Sessions',
  'an.turns': 'Turns',
  'an.interruptions': 'Interruptions',
  'an.errors': 'Errors',
  'an.avgDuration': 'Average duration',
  'an.latencyChart': 'Latency by stage (p50 / p95)',
  'an.perDayChart': 'Sessions per day',
  'an.noData': 'No data for this period.',
  'an.sessionList': 'Sessions',
  'an.started': 'Started',
  'an.duration': 'Duration',
  'an.language': 'Language',
  'an.session': 'Session',
  'an.open': 'Open',
  'an.more': 'Next page',
  'an.prev': 'Previous page',
  'an.noSessions': 'No sessions yet.',
  'an.detail': 'Session {id}',
  'an.back': 'Back to analytics',
  'an.transcript': 'Transcript',
  'an.turnLatency': 'Latency per turn (seconds)',
  'an.turn': 'Turn',
  'an.interrupted': 'interrupted',
  'an.loadError': 'Could not load analytics.',
  'an.providers': 'Providers',
  'an.status': 'Status',
  'an.status.created': 'not started',
  'an.status.active': 'in progress',
  'an.status.finished': 'finished',
  'an.sessionErrors': 'Errors',

  'auth.signedInAs': 'Signed in as {name}',
  'auth.signOut': 'Sign out',
  'auth.signIn': 'Sign in',
  'auth.redirecting': 'Taking you to the operator sign-in…',
  'auth.required': 'Analytics and call logs are for operators: sign in to see them.',
  'auth.expired': 'Your sign-in is no longer valid. Sign in again to continue.',
  'auth.callbackError': 'Sign-in did not complete: {message}',
  'auth.forbidden': 'Your account may not see this page (missing permission).',

  'stage.end_of_utterance_delay': 'End of utterance',
  'stage.transcription_delay': 'Transcription',
  'stage.stt_duration': 'Speech-to-text',
  'stage.llm_ttft': 'LLM first token',
  'stage.tts_ttfb': 'TTS first audio',
  'stage.voice_to_voice': 'Voice to voice',
};

export type MessageKey = keyof typeof en;

const zh: Record<MessageKey, string> = {
  'app.title': '语音通话',
  'app.tagline': '用语音与 AI 助手交谈。',
  'app.skip': '跳到主要内容',
  'nav.call': '通话',
  'nav.analytics': '数据分析',
  'nav.language': '界面语言',
  'lang.en': 'English',
  'lang.zh': '中文',

  'join.name': '你的名字',
  'join.namePlaceholder': '例如：小明',
  'join.language': '对话语言',
  'join.accessCode': '访问码',
  'join.accessCodeHint': '此服务器需要访问码。',
  'join.submit': '开始通话',
  'join.connecting': '正在连接…',
  'join.checkingMic': '正在检查麦克风…',

  'error.title': '无法开始通话',
  'error.micDenied': '麦克风权限被拒绝。请在浏览器设置中允许本网站使用麦克风，然后重试。',
  'error.micMissing': '未找到麦克风。请连接麦克风后重试。',
  'error.micBusy': '麦克风正被其他应用占用或无法打开。',
  'error.accessCodeRequired': '开始通话需要访问码。',
  'error.accessCodeInvalid': '访问码无效。',
  'error.tokenRefused': '服务器拒绝了通话请求。',
  'error.unreachable': '无法连接到服务器。请检查网络后重试。',
  'error.server': '服务器出现问题，请稍后重试。',
  'error.badResponse': '服务器返回了意外的响应。',
  'error.roomConnect': '无法连接到通话服务器。',
  'error.agentTimeout': '助手未在 {seconds} 秒内加入。',
  'error.disconnected': '通话已断开。',
  'error.serverSaid': '服务器消息：{message}',
  'error.retry': '重试',

  'call.reconnecting': '连接中断，正在重新连接…',
  'call.waitingAgent': '正在等待助手加入…',
  'call.room': '房间 {room}',
  'call.mute': '麦克风静音',
  'call.unmute': '取消麦克风静音',
  'call.muted': '你的麦克风已静音',
  'call.hangup': '挂断',
  'call.ended': '通话已结束。',
  'call.newCall': '新通话',
  'call.startAudio': '点击以允许播放声音',
  'call.transcript': '对话记录',
  'call.transcriptEmpty': '说声你好吧，对话内容会显示在这里。',
  'call.you': '你',
  'call.agent': '助手',
  'call.interim': '（识别中）',
  'call.latency': '每轮响应时间',
  'call.lastLatency': '上次回复用时 {value}',
  'call.turnN': '第 {n} 轮',
  'call.visualizer': '助手音量',

  'state.disconnected': '未连接',
  'state.connecting': '连接中',
  'state.pre-connect-buffering': '连接中',
  'state.failed': '失败',
  'state.initializing': '准备中',
  'state.idle': '空闲',
  'state.listening': '正在聆听',
  'state.thinking': '正在思考',
  'state.speaking': '正在说话',

  'an.title': '数据分析',
  'an.from': '开始日期',
  'an.to': '结束日期',
  'an.langFilter': '语言',
  'an.provider': '服务商',
  'an.all': '全部',
  'an.apply': '应用',
  'an.loading': '加载中…',
  'an.totals': '总计',
  'an.sessions': '会话数',
  'an.turns': '轮次',
  'an.interruptions': '打断次数',
  'an.errors': '错误',
  'an.avgDuration': '平均时长',
  'an.latencyChart': '各阶段延迟（p50 / p95）',
  'an.perDayChart': '每日会话数',
  'an.noData': '此时间段内没有数据。',
  'an.sessionList': '会话列表',
  'an.started': '开始时间',
  'an.duration': '时长',
  'an.language': '语言',
  'an.session': '会话',
  'an.open': '查看',
  'an.more': '下一页',
  'an.prev': '上一页',
  'an.noSessions': '暂无会话。',
  'an.detail': '会话 {id}',
  'an.back': '返回数据分析',
  'an.transcript': '对话记录',
  'an.turnLatency': '每轮各阶段延迟（秒）',
  'an.turn': '轮次',
  'an.interrupted': '被打断',
  'an.loadError': '无法加载分析数据。',
  'an.providers': '服务商',
  'an.status': '状态',
  'an.status.created': '未开始',
  'an.status.active': '进行中',
  'an.status.finished': '已结束',
  'an.sessionErrors': '错误',

  'auth.signedInAs': '已登录：{name}',
  'auth.signOut': '退出登录',
  'auth.signIn': '登录',
  'auth.redirecting': '正在前往运营人员登录…',
  'auth.required': '数据分析和通话记录仅限运营人员查看，请先登录。',
  'auth.expired': '登录已失效，请重新登录。',
  'auth.callbackError': '登录未完成：{message}',
  'auth.forbidden': '您的账号无权查看此页面（缺少权限）。',

  'stage.end_of_utterance_delay': '说话结束判定',
  'stage.transcription_delay': '转写',
  'stage.stt_duration': '语音识别',
  'stage.llm_ttft': 'LLM 首个词元',
  'stage.tts_ttfb': 'TTS 首段音频',
  'stage.voice_to_voice': '语音到语音',
};

export const messages: Record<Language, Record<MessageKey, string>> = { en, zh };

export function translate(lang: Language, key: MessageKey, params?: Record<string, string | number>): string {
  const template = messages[lang][key] ?? messages.en[key] ?? key;
  if (!params) return template;
  return template.replace(/\{(\w+)\}/g, (m, name: string) =>
    Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : m,
  );
}

export function isLanguage(v: unknown): v is Language {
  return v === 'zh' || v === 'en';
}

/** ?lang= wins, then a saved choice, then the browser's preference. */
export function initialLanguage(search: string, saved: string | null, browserLanguages: readonly string[]): Language {
  const fromQuery = new URLSearchParams(search).get('lang');
  if (isLanguage(fromQuery)) return fromQuery;
  if (isLanguage(saved)) return saved;
  return browserLanguages.some((l) => l.toLowerCase().startsWith('zh')) ? 'zh' : 'en';
}

export const localeOf = (lang: Language): string => (lang === 'zh' ? 'zh-CN' : 'en-US');

export interface I18n {
  lang: Language;
  setLang: (lang: Language) => void;
  t: (key: MessageKey, params?: Record<string, string | number>) => string;
}

export const I18nContext = createContext<I18n>({
  lang: 'en',
  setLang: () => undefined,
  t: (key, params) => translate('en', key, params),
});

export const useI18n = (): I18n => useContext(I18nContext);
