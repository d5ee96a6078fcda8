// The three browser SDKs exactly as a site bundles them from npm; the test page picks one by name.
import { AnalyticsBrowser } from "@segment/analytics-next";
import { RudderAnalytics } from "@rudderstack/analytics-js/bundled";
import { jitsuAnalytics } from "@jitsu/js";

window.FootfallSdks = { AnalyticsBrowser, RudderAnalytics, jitsuAnalytics };
