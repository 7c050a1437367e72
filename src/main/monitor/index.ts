export { BrokerMonitor, type BrokerMonitorOptions, type Presence, type PresenceEvent } from './broker-monitor.js';
