/**
 * The words of pycc's agent desktop and supervisor view in English and Simplified Chinese.
 *
 * Every text the page shows comes from `t(key)`. Static labels in index.html name their key
 * in a `data-i18n` attribute (`data-i18n-aria-label`, `data-i18n-placeholder` and
 * `data-i18n-title` for attributes) and `applyTranslations` fills them in; the desktop
 * renders its live parts again when the language changes (see `onLanguageChange`).
 * The agent's choice is kept in localStorage; the first visit follows navigator.language.
 */

export const LANGUAGES = Object.freeze(["en", "zh-CN"]);

const STORAGE_KEY = "pycc.lang";

const STRINGS = {
  en: {
    "app.title": "pycc agent desktop",
    "app.brand": "pycc",
    "header.lang": "Language",
    "header.logout": "Log out",
    "header.tenant": "Tenant: {tenant}",

    "login.title": "Sign in to the agent desktop",
    "login.user": "User",
    "login.password": "Password",
    "login.submit": "Log in",
    "login.missing": "Enter your user name and password.",
    "login.failed": "Wrong user name or password.",
    "login.expired": "Your session has ended. Please log in again.",

    "error.network": "Cannot reach the server. Check your network connection.",
    "error.unknown": "The request failed (HTTP {status}).",
    "error.required": "Required",

    "notAgent.text": "This page is for agents.",
    "notAgent.role": "You are logged in as {user} with the role {role}, but no agent is linked to this user.",

    "connection.lost": "Connection lost, reconnecting...",

    "agent.title": "My status",
    "agent.status": "Status",
    "agent.state": "Activity",
    "agent.extension": "Extension",
    "agent.reason": "Reason",
    "agent.callsToday": "Calls today",
    "agent.login": "Log in to queues",
    "agent.ready": "Ready",
    "agent.notReady": "Not ready",
    "agent.reasonChoice": "Not-ready reason",
    "agent.logout": "Log out of queues",
    "agent.none": "—",

    "status.logged_out": "Logged out",
    "status.offline": "Logged out",
    "status.available": "Available",
    "status.not_ready": "Not ready",
    "status.busy": "Busy",

    "state.idle": "Idle",
    "state.reserved": "Call offered",
    "state.on_call": "On a call",
    "state.wrap_up": "Wrap-up",

    "reason.break": "Break",
    "reason.lunch": "Lunch",
    "reason.meeting": "Meeting",
    "reason.training": "Training",
    "reason.other": "Other",
    "reason.supervisor": "Set by supervisor",

    "phone.title": "Phone",
    "phone.ready": "Ready · extension {extension}",
    "phone.connecting": "Connecting…",
    "phone.offline": "Not connected",
    "phone.notConnected": "The phone is not connected; wait until it is ready.",
    "phone.micDenied": "The microphone cannot be used ({message}); callers will not hear you. The page needs microphone permission and HTTPS (or localhost).",
    "phone.mediaFailed": "The audio connection failed: {message}",
    "phone.unsupported": "This browser cannot make calls (no WebRTC).",
    "phone.badMessage": "The server sent a message the phone does not understand.",
    "phone.badDigits": "Keypad digits are 0-9, *, # and A-D.",
    "phone.noNumber": "Enter a number to call.",
    "phone.badNumber": "A number holds only digits, *, # and a leading +.",
    "phone.noTarget": "Enter the number or extension to transfer to.",

    "incoming.title": "Incoming call",
    "incoming.answer": "Answer",
    "incoming.reject": "Reject",

    "call.title": "Current call",
    "call.unknownPeer": "Unknown number",
    "call.hangup": "Hang up",
    "call.hold": "Hold",
    "call.mute": "Mute",
    "call.keypad": "Keypad",
    "call.transferTarget": "Transfer to",
    "consult.held": "On hold: {peer}",
    "consult.transfer": "Complete transfer",
    "consult.conference": "Talk all three",
    "call.transfer": "Transfer",
    "call.timer": "Talk time",

    "direction.incoming": "Incoming",
    "direction.outgoing": "Outgoing",

    "callstate.ringing": "Ringing",
    "callstate.answered": "Connected",
    "callstate.held": "On hold",
    "callstate.ended": "Ended",

    "dial.title": "Make a call",
    "dial.placeholder": "Number or extension",
    "dial.dial": "Call",

    "info.title": "Call details",
    "info.none": "No call right now.",
    "info.peer": "Number",
    "info.direction": "Direction",
    "info.queue": "Queue",
    "info.queue_wait": "Waited",
    "info.ivr_path": "IVR path",
    "info.campaign": "Campaign",
    "info.contact": "Customer",

    "wrapup.title": "Wrap-up",
    "wrapup.call": "Call with {peer}",
    "wrapup.code": "Disposition",
    "wrapup.choose": "Choose…",
    "wrapup.notes": "Notes",
    "wrapup.count": "{count} / {max}",
    "wrapup.callback": "Call back at",
    "wrapup.submit": "Save",
    "wrapup.skip": "Close",
    "wrapup.saved": "Wrap-up saved.",
    "wrapup.pending": "Calls waiting for wrap-up after this one: {count}",
    "wrapup.noCode": "Choose a disposition.",
    "wrapup.tooLong": "Notes hold at most {max} characters.",
    "wrapup.badCallback": "Enter a valid date and time.",
    "wrapup.noDispositions": "The dispositions could not be loaded: {detail}",

    "sup.title": "pycc supervisor",
    "sup.updated": "Updated {time}",
    "sup.waiting": "Waiting for the first update…",
    "sup.forbidden": "Your role may not watch the wallboard.",

    "sup.phone.title": "My phone",
    "sup.phone.extension": "My extension",
    "sup.phone.connect": "Connect",
    "sup.phone.hint": "Enter your extension to listen to agents' calls.",
    "sup.phone.noExtension": "Enter your extension.",
    "sup.phone.badExtension": "An extension holds only letters, digits, and . _ + - (at most 64).",
    "sup.phone.forbidden": "You may not use extension {extension}.",
    "sup.phone.notFound": "Extension {extension} does not exist.",
    "sup.phone.takenOver": "Extension {extension} was taken over by another page; press Connect to take it back.",
    "sup.phone.failed": "No phone could be made for extension {extension}.",
    "sup.noCode": "pycc has no feature code for {mode}.",

    "sup.monitor.none": "Not monitoring any call.",
    "sup.monitor.calling": "{mode}: connecting to {agent}'s call…",
    "sup.monitor.active": "{mode}: {agent}",
    "sup.monitoring": "{mode} ({supervisor})",
    "sup.monitoring.listen": "Listening",
    "sup.monitoring.whisper": "Whispering",
    "sup.monitoring.barge": "Barged in",

    "sup.action.listen": "Listen",
    "sup.action.listen.aria": "Listen to {agent}'s call",
    "sup.action.whisper": "Whisper",
    "sup.action.whisper.aria": "Whisper to {agent}",
    "sup.action.barge": "Barge in",
    "sup.action.barge.aria": "Barge in on {agent}'s call",
    "sup.action.stop": "Stop",
    "sup.action.stop.aria": "Stop monitoring {agent}",
    "sup.action.ready": "Ready",
    "sup.action.ready.aria": "Set {agent} ready",
    "sup.action.not_ready": "Not ready",
    "sup.action.not_ready.aria": "Set {agent} not ready",
    "sup.action.logout": "Log out",
    "sup.action.logout.aria": "Log {agent} out of the queues",
    "sup.forceFailed": "{agent}: {detail}",

    "sup.queues.title": "Queues",
    "sup.queues.none": "No queues.",
    "sup.queue.queue": "Queue",
    "sup.queue.waiting": "Waiting",
    "sup.queue.longest_wait": "Longest wait",
    "sup.queue.answered": "Answered",
    "sup.queue.abandoned": "Abandoned",
    "sup.queue.overflowed": "Overflowed",
    "sup.queue.service_level": "Service level",
    "sup.queue.agents_logged_in": "Agents in",
    "sup.queue.agents_free": "Agents free",

    "sup.agents.title": "Agents",
    "sup.agents.none": "No agents.",
    "sup.agent.agent": "Agent",
    "sup.agent.extension": "Extension",
    "sup.agent.status": "Status",
    "sup.agent.state": "Activity",
    "sup.agent.reason": "Reason",
    "sup.agent.call": "Call",
    "sup.agent.calls_today": "Calls today",
    "sup.agent.monitor": "Monitored",
    "sup.agent.actions": "Actions",

    "sup.campaigns.title": "Campaigns",
    "sup.campaigns.none": "No campaigns.",
    "sup.campaign.campaign": "Campaign",
    "sup.campaign.running": "Running",
    "sup.campaign.mode": "Mode",
    "sup.campaign.in_flight": "In progress",
    "sup.campaign.dialed": "Dialed",
    "sup.campaign.answered": "Answered",
    "sup.campaign.connected": "Connected",
    "sup.campaign.abandoned": "Abandoned",
    "sup.campaign.abandon_rate": "Abandon rate",
    "sup.campaign.contacts": "Contacts",
    "sup.running.yes": "Running",
    "sup.running.no": "Stopped",

    "campaignMode.preview": "Preview",
    "campaignMode.progressive": "Progressive",
    "campaignMode.predictive": "Predictive",

    "contactState.ready": "ready",
    "contactState.dialing": "dialing",
    "contactState.answered": "answered",
    "contactState.connected": "connected",
    "contactState.busy": "busy",
    "contactState.no_answer": "no answer",
    "contactState.rejected": "rejected",
    "contactState.invalid": "invalid",
    "contactState.failed": "failed",
    "contactState.abandoned": "abandoned",
    "contactState.machine": "machine",
    "contactState.retry": "retry",
    "contactState.scheduled": "scheduled",
    "contactState.done": "done",

    "desk.tabs": "Customer and call tools",
    "desk.tab.customer": "Customer",
    "desk.tab.tickets": "Tickets",
    "desk.tab.kb": "Knowledge base",
    "desk.tab.history": "My calls",
    "desk.tab.profile": "Profile",
    "desk.search": "Search",
    "desk.more": "Show more",
    "desk.save": "Save",
    "desk.refresh": "Refresh",
    "desk.close": "Close",
    "desk.tooLong": "At most {max} characters.",

    "customer.idle": "The customer of each call shows here.",
    "customer.looking": "Looking up {number}…",
    "customer.match": "Customer with the number {number}:",
    "customer.severalMatches": "{count} customers have the number {number}; the first is shown, choose another in the list below.",
    "customer.noMatch": "No customer with this number ({number}).",
    "customer.unknownNumber": "The caller's number is unknown.",
    "customer.lookupFailed": "The lookup of {number} failed.",
    "customer.create": "Create",
    "customer.edit": "Edit",
    "customer.new": "New customer",
    "customer.newTitle": "New customer",
    "customer.editTitle": "Edit {name}",
    "customer.contact": "From the campaign",
    "customer.search": "Find a customer",
    "customer.searchPlaceholder": "Name, company, email or phone",
    "customer.noResults": "No customers found.",
    "customer.name": "Name",
    "customer.phones": "Phones",
    "customer.phonesInput": "Phones (separated by commas)",
    "customer.email": "Email",
    "customer.company": "Company",
    "customer.notes": "Notes",
    "customer.saved": "Customer saved.",
    "customer.tooManyPhones": "At most {max} phone numbers.",
    "customer.badPhone": "\"{phone}\" is not a phone number (3 to 32 digits, spaces and + - ( ) .).",
    "customer.badEmail": "Enter an email address such as name@example.com.",

    "tickets.filter": "Show",
    "tickets.filter.mine": "My tickets",
    "tickets.filter.open": "All open tickets",
    "tickets.filter.all": "All tickets",
    "tickets.none": "No tickets.",

    "ticket.new": "New ticket",
    "ticket.subject": "Subject",
    "ticket.body": "Description",
    "ticket.priority": "Priority",
    "ticket.badPriority": "Choose a priority.",
    "ticket.linkCall": "Link the call with {peer}",
    "ticket.linkCustomer": "Link the customer {name}",
    "ticket.assignMe": "Assign to me",
    "ticket.save": "Create ticket",
    "ticket.status": "Status",
    "ticket.assignee": "Assigned to",
    "ticket.createdBy": "Created by",
    "ticket.created": "Created",
    "ticket.updated": "Updated",
    "ticket.customer": "Customer",
    "ticket.call": "Call",
    "ticket.showCustomer": "Show the customer",
    "ticket.comments": "Comments",
    "ticket.noComments": "No comments yet.",
    "ticket.comment": "Add a comment",
    "ticket.addComment": "Add comment",

    "ticketStatus.open": "Open",
    "ticketStatus.pending": "Pending",
    "ticketStatus.solved": "Solved",
    "ticketStatus.closed": "Closed",

    "priority.low": "Low",
    "priority.normal": "Normal",
    "priority.high": "High",
    "priority.urgent": "Urgent",

    "kb.search": "Search the knowledge base",
    "kb.none": "No articles found.",
    "kb.meta": "By {author} · updated {updated}",

    "history.title": "My recent calls",
    "history.time": "Time",
    "history.number": "Number",
    "history.queue": "Queue",
    "history.duration": "Duration",
    "history.disposition": "Disposition",
    "history.recording": "Recording",
    "history.none": "No calls yet.",
    "history.play": "Play",
    "history.playAria": "Play the recording of the call with {number} at {time}",
    "history.playFailed": "The recording cannot be played: {detail}",
    "history.noRecordings": "The recordings could not be loaded: {detail}",

    "profile.user": "User",
    "profile.role": "Role",
    "profile.tenant": "Tenant",
    "profile.agent": "Agent",
    "profile.extension": "Extension",

    "role.admin": "Administrator",
    "role.supervisor": "Supervisor",
    "role.agent": "Agent",
  },

  "zh-CN": {
    "app.title": "pycc 坐席工作台",
    "app.brand": "pycc",
    "header.lang": "语言",
    "header.logout": "退出登录",
    "header.tenant": "租户：{tenant}",

    "login.title": "登录坐席工作台",
    "login.user": "用户名",
    "login.password": "密码",
    "login.submit": "登录",
    "login.missing": "请输入用户名和密码。",
    "login.failed": "用户名或密码错误。",
    "login.expired": "会话已结束，请重新登录。",

    "error.network": "无法连接服务器，请检查网络连接。",
    "error.unknown": "请求失败（HTTP {status}）。",
    "error.required": "必填",

    "notAgent.text": "此页面供坐席使用。",
    "notAgent.role": "您以 {user} 的身份登录，角色为 {role}，但该用户没有关联的坐席。",

    "connection.lost": "连接已断开，正在重新连接...",

    "agent.title": "我的状态",
    "agent.status": "状态",
    "agent.state": "当前活动",
    "agent.extension": "分机",
    "agent.reason": "原因",
    "agent.callsToday": "今日通话",
    "agent.login": "签入",
    "agent.ready": "示闲",
    "agent.notReady": "示忙",
    "agent.reasonChoice": "示忙原因",
    "agent.logout": "签出",
    "agent.none": "—",

    "status.logged_out": "已签出",
    "status.offline": "已签出",
    "status.available": "空闲",
    "status.not_ready": "示忙",
    "status.busy": "忙碌",

    "state.idle": "待机",
    "state.reserved": "来电分配中",
    "state.on_call": "通话中",
    "state.wrap_up": "话后处理",

    "reason.break": "小休",
    "reason.lunch": "午餐",
    "reason.meeting": "会议",
    "reason.training": "培训",
    "reason.other": "其他",
    "reason.supervisor": "班长设置",

    "phone.title": "电话",
    "phone.ready": "就绪 · 分机 {extension}",
    "phone.connecting": "正在连接…",
    "phone.offline": "未连接",
    "phone.notConnected": "电话尚未连接，请等待就绪。",
    "phone.micDenied": "无法使用麦克风（{message}），对方将听不到您的声音。页面需要麦克风权限以及 HTTPS（或 localhost）。",
    "phone.mediaFailed": "音频连接失败：{message}",
    "phone.unsupported": "此浏览器无法通话（不支持 WebRTC）。",
    "phone.badMessage": "服务器发送了电话无法识别的消息。",
    "phone.badDigits": "按键只能是 0-9、*、# 和 A-D。",
    "phone.noNumber": "请输入要拨打的号码。",
    "phone.badNumber": "号码只能包含数字、*、# 以及开头的 +。",
    "phone.noTarget": "请输入要转接的号码或分机。",

    "incoming.title": "来电",
    "incoming.answer": "接听",
    "incoming.reject": "拒接",

    "call.title": "当前通话",
    "call.unknownPeer": "未知号码",
    "call.hangup": "挂断",
    "call.hold": "保持",
    "call.mute": "静音",
    "call.keypad": "拨号键盘",
    "call.transferTarget": "转接至",
    "consult.held": "保持中：{peer}",
    "consult.transfer": "完成转接",
    "consult.conference": "三方通话",
    "call.transfer": "转接",
    "call.timer": "通话时长",

    "direction.incoming": "呼入",
    "direction.outgoing": "呼出",

    "callstate.ringing": "振铃中",
    "callstate.answered": "通话中",
    "callstate.held": "保持中",
    "callstate.ended": "已结束",

    "dial.title": "外呼",
    "dial.placeholder": "号码或分机",
    "dial.dial": "呼叫",

    "info.title": "通话详情",
    "info.none": "当前没有通话。",
    "info.peer": "号码",
    "info.direction": "方向",
    "info.queue": "队列",
    "info.queue_wait": "排队时长",
    "info.ivr_path": "IVR 路径",
    "info.campaign": "外呼活动",
    "info.contact": "客户信息",

    "wrapup.title": "话后小结",
    "wrapup.call": "与 {peer} 的通话",
    "wrapup.code": "处理结果",
    "wrapup.choose": "请选择…",
    "wrapup.notes": "备注",
    "wrapup.count": "{count} / {max}",
    "wrapup.callback": "回拨时间",
    "wrapup.submit": "保存",
    "wrapup.skip": "关闭",
    "wrapup.saved": "话后小结已保存。",
    "wrapup.pending": "此后还有待小结的通话：{count} 个",
    "wrapup.noCode": "请选择处理结果。",
    "wrapup.tooLong": "备注最多 {max} 个字符。",
    "wrapup.badCallback": "请输入有效的日期和时间。",
    "wrapup.noDispositions": "无法加载处理结果列表：{detail}",

    "sup.title": "pycc 班长席",
    "sup.updated": "更新于 {time}",
    "sup.waiting": "正在等待首次数据…",
    "sup.forbidden": "您的角色无权查看监控墙。",

    "sup.phone.title": "我的电话",
    "sup.phone.extension": "我的分机",
    "sup.phone.connect": "连接",
    "sup.phone.hint": "输入您的分机号后即可监听坐席通话。",
    "sup.phone.noExtension": "请输入您的分机号。",
    "sup.phone.badExtension": "分机号只能包含字母、数字以及 . _ + -（最多 64 个字符）。",
    "sup.phone.forbidden": "您无权使用分机 {extension}。",
    "sup.phone.notFound": "分机 {extension} 不存在。",
    "sup.phone.takenOver": "分机 {extension} 已被另一个页面接管；点击“连接”可重新接管。",
    "sup.phone.failed": "无法为分机 {extension} 建立电话。",
    "sup.noCode": "pycc 没有为“{mode}”配置特征码。",

    "sup.monitor.none": "当前未监控任何通话。",
    "sup.monitor.calling": "{mode}：正在接入 {agent} 的通话…",
    "sup.monitor.active": "{mode}：{agent}",
    "sup.monitoring": "{mode}（{supervisor}）",
    "sup.monitoring.listen": "监听中",
    "sup.monitoring.whisper": "耳语中",
    "sup.monitoring.barge": "已强插",

    "sup.action.listen": "监听",
    "sup.action.listen.aria": "监听 {agent} 的通话",
    "sup.action.whisper": "耳语",
    "sup.action.whisper.aria": "对 {agent} 耳语",
    "sup.action.barge": "强插",
    "sup.action.barge.aria": "强插 {agent} 的通话",
    "sup.action.stop": "停止",
    "sup.action.stop.aria": "停止监控 {agent}",
    "sup.action.ready": "示闲",
    "sup.action.ready.aria": "将 {agent} 设为示闲",
    "sup.action.not_ready": "示忙",
    "sup.action.not_ready.aria": "将 {agent} 设为示忙",
    "sup.action.logout": "签出",
    "sup.action.logout.aria": "将 {agent} 签出队列",
    "sup.forceFailed": "{agent}：{detail}",

    "sup.queues.title": "队列",
    "sup.queues.none": "没有队列。",
    "sup.queue.queue": "队列",
    "sup.queue.waiting": "排队数",
    "sup.queue.longest_wait": "最长等待",
    "sup.queue.answered": "已接听",
    "sup.queue.abandoned": "放弃",
    "sup.queue.overflowed": "溢出",
    "sup.queue.service_level": "服务水平",
    "sup.queue.agents_logged_in": "签入坐席",
    "sup.queue.agents_free": "空闲坐席",

    "sup.agents.title": "坐席",
    "sup.agents.none": "没有坐席。",
    "sup.agent.agent": "坐席",
    "sup.agent.extension": "分机",
    "sup.agent.status": "状态",
    "sup.agent.state": "当前活动",
    "sup.agent.reason": "原因",
    "sup.agent.call": "通话",
    "sup.agent.calls_today": "今日通话",
    "sup.agent.monitor": "监控",
    "sup.agent.actions": "操作",

    "sup.campaigns.title": "外呼活动",
    "sup.campaigns.none": "没有外呼活动。",
    "sup.campaign.campaign": "外呼活动",
    "sup.campaign.running": "运行",
    "sup.campaign.mode": "模式",
    "sup.campaign.in_flight": "进行中",
    "sup.campaign.dialed": "已拨打",
    "sup.campaign.answered": "已接通",
    "sup.campaign.connected": "已转坐席",
    "sup.campaign.abandoned": "放弃",
    "sup.campaign.abandon_rate": "放弃率",
    "sup.campaign.contacts": "名单",
    "sup.running.yes": "运行中",
    "sup.running.no": "已停止",

    "campaignMode.preview": "预览式",
    "campaignMode.progressive": "渐进式",
    "campaignMode.predictive": "预测式",

    "contactState.ready": "待拨",
    "contactState.dialing": "拨号中",
    "contactState.answered": "已接通",
    "contactState.connected": "已转坐席",
    "contactState.busy": "忙",
    "contactState.no_answer": "无人接听",
    "contactState.rejected": "拒接",
    "contactState.invalid": "无效",
    "contactState.failed": "失败",
    "contactState.abandoned": "放弃",
    "contactState.machine": "答录机",
    "contactState.retry": "待重拨",
    "contactState.scheduled": "已预约",
    "contactState.done": "完成",

    "desk.tabs": "客户与通话工具",
    "desk.tab.customer": "客户",
    "desk.tab.tickets": "工单",
    "desk.tab.kb": "知识库",
    "desk.tab.history": "我的通话",
    "desk.tab.profile": "个人信息",
    "desk.search": "搜索",
    "desk.more": "显示更多",
    "desk.save": "保存",
    "desk.refresh": "刷新",
    "desk.close": "关闭",
    "desk.tooLong": "最多 {max} 个字符。",

    "customer.idle": "每通电话的客户信息将显示在这里。",
    "customer.looking": "正在查找 {number}…",
    "customer.match": "号码 {number} 对应的客户：",
    "customer.severalMatches": "有 {count} 个客户使用号码 {number}；当前显示第一个，可在下方列表中选择其他客户。",
    "customer.noMatch": "没有使用此号码（{number}）的客户。",
    "customer.unknownNumber": "来电号码未知。",
    "customer.lookupFailed": "查找 {number} 失败。",
    "customer.create": "新建",
    "customer.edit": "编辑",
    "customer.new": "新建客户",
    "customer.newTitle": "新建客户",
    "customer.editTitle": "编辑 {name}",
    "customer.contact": "外呼名单信息",
    "customer.search": "查找客户",
    "customer.searchPlaceholder": "姓名、公司、邮箱或电话",
    "customer.noResults": "没有找到客户。",
    "customer.name": "姓名",
    "customer.phones": "电话",
    "customer.phonesInput": "电话（用逗号分隔）",
    "customer.email": "邮箱",
    "customer.company": "公司",
    "customer.notes": "备注",
    "customer.saved": "客户已保存。",
    "customer.tooManyPhones": "最多 {max} 个电话号码。",
    "customer.badPhone": "“{phone}”不是有效的电话号码（3 到 32 个字符，只能包含数字、空格以及 + - ( ) .）。",
    "customer.badEmail": "请输入邮箱地址，例如 name@example.com。",

    "tickets.filter": "显示",
    "tickets.filter.mine": "我的工单",
    "tickets.filter.open": "所有未处理工单",
    "tickets.filter.all": "全部工单",
    "tickets.none": "没有工单。",

    "ticket.new": "新建工单",
    "ticket.subject": "主题",
    "ticket.body": "描述",
    "ticket.priority": "优先级",
    "ticket.badPriority": "请选择优先级。",
    "ticket.linkCall": "关联与 {peer} 的通话",
    "ticket.linkCustomer": "关联客户 {name}",
    "ticket.assignMe": "指派给我",
    "ticket.save": "创建工单",
    "ticket.status": "状态",
    "ticket.assignee": "处理人",
    "ticket.createdBy": "创建人",
    "ticket.created": "创建时间",
    "ticket.updated": "更新时间",
    "ticket.customer": "客户",
    "ticket.call": "通话",
    "ticket.showCustomer": "查看客户",
    "ticket.comments": "评论",
    "ticket.noComments": "暂无评论。",
    "ticket.comment": "添加评论",
    "ticket.addComment": "提交评论",

    "ticketStatus.open": "待处理",
    "ticketStatus.pending": "挂起",
    "ticketStatus.solved": "已解决",
    "ticketStatus.closed": "已关闭",

    "priority.low": "低",
    "priority.normal": "普通",
    "priority.high": "高",
    "priority.urgent": "紧急",

    "kb.search": "搜索知识库",
    "kb.none": "没有找到文章。",
    "kb.meta": "作者 {author} · 更新于 {updated}",

    "history.title": "我最近的通话",
    "history.time": "时间",
    "history.number": "号码",
    "history.queue": "队列",
    "history.duration": "时长",
    "history.disposition": "处理结果",
    "history.recording": "录音",
    "history.none": "暂无通话。",
    "history.play": "播放",
    "history.playAria": "播放 {time} 与 {number} 通话的录音",
    "history.playFailed": "无法播放录音：{detail}",
    "history.noRecordings": "无法加载录音列表：{detail}",

    "profile.user": "用户名",
    "profile.role": "角色",
    "profile.tenant": "租户",
    "profile.agent": "坐席",
    "profile.extension": "分机",

    "role.admin": "管理员",
    "role.supervisor": "班长",
    "role.agent": "坐席",
  },
};

let current = "en";
const listeners = new Set();

/** The supported language closest to a BCP 47 tag (Chinese of any script reads zh-CN best). */
export function closestLanguage(tag) {
  const lower = String(tag || "").toLowerCase();
  if (lower.startsWith("zh")) return "zh-CN";
  return "en";
}

/** The language to start with: the agent's earlier choice, else the browser's. */
export function initialLanguage() {
  let stored = null;
  try {
    stored = window.localStorage.getItem(STORAGE_KEY);
  } catch {
    // Storage can be disabled by browser policy; the browser language is then the choice.
  }
  if (stored && LANGUAGES.includes(stored)) return stored;
  return closestLanguage(navigator.language);
}

export function getLanguage() {
  return current;
}

/** Switch the page language; `remember` keeps it for the next visit. */
export function setLanguage(lang, { remember = true } = {}) {
  current = LANGUAGES.includes(lang) ? lang : "en";
  document.documentElement.lang = current;
  if (remember) {
    try {
      window.localStorage.setItem(STORAGE_KEY, current);
    } catch {
      // Not kept across visits then; the page itself still switches.
    }
  }
  for (const listener of listeners) listener(current);
}

/** Call `listener(lang)` after every language change. */
export function onLanguageChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Whether `key` is a known text (for words that come from the server, such as statuses). */
export function has(key) {
  return Object.hasOwn(STRINGS.en, key);
}

/** The text for `key` in the current language, `{name}` filled from `params`. */
export function t(key, params = {}) {
  const text = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) =>
    Object.hasOwn(params, name) ? String(params[name]) : whole);
}

/** Fill every `data-i18n*` element under `root` in the current language. */
export function applyTranslations(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) {
    el.textContent = t(el.dataset.i18n);
  }
  const attributes = [
    ["i18nAriaLabel", "aria-label"],
    ["i18nPlaceholder", "placeholder"],
    ["i18nTitle", "title"],
  ];
  for (const [data, attribute] of attributes) {
    const selector = `[data-${data.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}]`;
    for (const el of root.querySelectorAll(selector)) {
      el.setAttribute(attribute, t(el.dataset[data]));
    }
  }
}

/** Every key of every language, for checking that both languages are complete. */
export function catalog() {
  return Object.fromEntries(LANGUAGES.map((lang) => [lang, Object.keys(STRINGS[lang])]));
}
