import { fixture } from './feed-server.ts';

/**
 * The embassy's Russia alert feed (the v2 snapshot, with the March 7 security
 * alert) plus one later post of the routine kind embassies publish through the
 * same feed: a "Message for U.S. Citizens" about consular services. The corpus
 * has no such post, so it is built here from the snapshot's own structure
 * (same channel, same item markup, WordPress's type category) rather than
 * written as a separate fixture file; everything else stays byte-for-byte.
 */
export function embassyFeedWithRoutineMessage(): string {
  const v2 = fixture('us-embassy/us-embassy-russia-alerts_v2.xml');
  const item = `<item>
		<title>Message for U.S. Citizens &#8211; U.S. Embassy Moscow (March 20, 2024)</title>
		<link>https://ru.usembassy.gov/message-for-u-s-citizens-u-s-embassy-moscow-march-20-2024/</link>
		<dc:creator><![CDATA[wmmoscow]]></dc:creator>
		<pubDate>Wed, 20 Mar 2024 10:00:00 +0000</pubDate>
		<category><![CDATA[Alert]]></category>
		<category><![CDATA[Message for U.S. Citizens]]></category>
		<guid isPermaLink="false">https://ru.usembassy.gov/?p=31400</guid>
		<description><![CDATA[Location: Moscow, Russia Event: The Consular Section will offer limited passport services on March 25.]]></description>
		<content:encoded><![CDATA[<p><strong>Location:</strong> Moscow, Russia</p>
<p><strong>Event:</strong> The Consular Section will offer limited passport and notarial services on March 25. Please book an appointment online.</p>]]></content:encoded>
	</item>
	`;
  const at = v2.indexOf('<item>');
  if (at < 0) throw new Error('fixture has no <item>');
  return `${v2.slice(0, at)}${item}${v2.slice(at)}`;
}
