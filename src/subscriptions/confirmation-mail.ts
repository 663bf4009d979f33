import { escapeHtml } from '../common/escape.ts';

/**
 * The double opt-in email: to a new subscriber, or to the new address of a
 * subscription being moved. `what` names what was asked for, in our words
 * (never text typed into the form: this mail goes out before anyone opted in).
 * A move says it is a move and what happens to the old links; it does not name
 * the old address, which the new one has no claim to know.
 */
export function confirmationMail(kind: 'subscribe' | 'move', what: string, link: string): { subject: string; text: string; html: string } {
  const ignore =
    kind === 'move'
      ? 'The link works for 48 hours. If you did not ask for this, ignore this message: nothing changes and nothing will be sent here.'
      : 'The link works for 48 hours. If you did not ask for this, ignore this message: nothing will be sent.';
  const paragraphs =
    kind === 'move'
      ? [
          'Please confirm the move of travel advisory alerts to this address.',
          `Someone with the manage link of an existing subscription asked to move its alerts, about ${what}, to this address. Once you confirm, the alerts come here instead, and the manage and unsubscribe links in emails sent before stop working.`,
        ]
      : ['Please confirm your travel advisory alerts.', `You (or someone using this address) asked for alerts about ${what}.`];
  const action = kind === 'move' ? 'Confirm the move' : 'Confirm my alerts';
  const text = [...paragraphs.flatMap((p) => [p, '']), `${kind === 'move' ? 'Confirm the move' : 'Confirm'}: ${link}`, '', ignore].join('\n');
  const html = `<!doctype html><html lang="en"><body style="font-family:Arial,Helvetica,sans-serif">
${paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`).join('\n')}
<p><a href="${escapeHtml(link)}">${action}</a></p>
<p style="color:#555">${escapeHtml(ignore)}</p>
</body></html>`;
  return { subject: kind === 'move' ? 'Confirm the move of your travel advisory alerts to this address' : 'Confirm your travel advisory alerts', text, html };
}
